import Foundation
import Formats
import Images
import Scenes
import Testing

@Suite struct ExportTests {
    @Test func tarWriterIsReadByGNUTar() throws {
        let dir = try ScenesPaths.tempFolder("tar")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var tar = TarWriter()
        let members: [(String, [UInt8])] = [
            ("a.txt", Array("hello\n".utf8)),
            ("empty.bin", []),
            ("exact.bin", [UInt8](repeating: 7, count: 512)),
            ("odd.bin", (0..<1000).map { UInt8($0 % 251) }),
            (String(repeating: "d", count: 60) + "/" + String(repeating: "f", count: 80) + ".json", Array("{\"k\":1}".utf8)),
            ("unicode-é.txt", Array("crème".utf8)),
        ]
        for (name, data) in members { try tar.append(name: name, contents: data) }
        let bytes = tar.finish()
        #expect(bytes.count % 512 == 0)
        #expect(bytes.suffix(1024).allSatisfy { $0 == 0 })
        let path = dir + "/test.tar"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let (status, listing, err) = try run("/usr/bin/tar", ["-tf", path])
        #expect(status == 0, "tar -tf failed: \(err)")
        #expect(listing.split(separator: "\n").map(String.init) == members.map(\.0))
        #expect(err.isEmpty, "tar warned: \(err)")
        let out = dir + "/x"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let (xs, _, xerr) = try run("/usr/bin/tar", ["-xf", path, "-C", out])
        #expect(xs == 0, "tar -xf failed: \(xerr)")
        for (name, data) in members {
            let got = FileManager.default.contents(atPath: out + "/" + name).map { [UInt8]($0) }
            #expect(got == data, "\(name) differs after extraction")
        }
        #expect(throws: TarError.self) { try tar.append(name: String(repeating: "x", count: 101), contents: []) }
    }

    @Test func jpegRoundTrip() throws {
        let sample = SceneDataset.sample(index: 2, seed: 1, imageSize: 96)
        for sub in [JPEGSubsampling.s444, .s420] {
            let bytes = try sample.image.jpegData(quality: 95, subsampling: sub)
            #expect(Array(bytes.prefix(3)) == [0xFF, 0xD8, 0xFF])
            let back = try RGBImage(data: bytes)
            #expect(back.width == 96 && back.height == 96)
            var total = 0
            for i in 0..<back.pixels.count { total += abs(Int(back.pixels[i]) - Int(sample.image.pixels[i])) }
            let mean = Double(total) / Double(back.pixels.count)
            #expect(mean < (sub == .s444 ? 3 : 6), "\(sub): mean abs error \(mean)")
        }
        // A smooth image survives almost exactly.
        let smooth = SceneRenderer.render(SceneDescription(objects: [], background: .gradient(.white, .paleBlue, .vertical)), size: 64)
        let folder = try ScenesPaths.tempFolder("jpeg")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/smooth.jpg"
        try smooth.writeJPEG(to: path, quality: 95)
        let back = try RGBImage(contentsOf: path)
        #expect(back.maxAbsDifference(smooth) <= 4)
        // Grey, and a bad quality fails cleanly.
        let grey = try JPEGEncoder.encode(pixels: [UInt8](repeating: 128, count: 64), width: 8, height: 8, channels: 1)
        #expect(try RGBImage(data: grey)[3, 3] == (128, 128, 128))
        #expect(throws: ImageError.self) { try smooth.jpegData(quality: 0) }
    }

    @Test func exportWritesEveryLayout() throws {
        let root = try ScenesPaths.tempFolder("export")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/out"
        var options = SceneExportOptions()
        options.shardSize = 4
        let exporter = try SceneExporter(directory: dir, options: options)
        let samples = SceneDataset.generate(count: 10, seed: 12, imageSize: 64)
        try exporter.add(Array(samples[0..<6]))
        try exporter.add(Array(samples[6...]))
        let summary = try exporter.finish(info: SceneGenerationInfo(seed: 12, count: 10, imageSize: 64, split: .train, heldOutWording: false))
        #expect(summary.samples == 10 && summary.shards == 3)
        #expect(summary.files == ["shard-00000.tar", "shard-00001.tar", "shard-00002.tar", "manifest.jsonl", "manifest.csv", "pairs.csv", "scenes.json"])
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["images", "manifest.csv", "manifest.jsonl", "pairs.csv", "scenes.json", "shard-00000.tar", "shard-00001.tar", "shard-00002.tar"],
                "leftover temporary files? \(names)")

        // manifest.jsonl
        let lines = try String(contentsOfFile: dir + "/manifest.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 10)
        for (line, s) in zip(lines, samples) {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            #expect(obj["key"] as? String == s.key)
            #expect(obj["image"] as? String == "images/\(s.key).jpg")
            #expect(obj["short_captions"] as? [String] == s.shortCaptions)
            #expect(obj["long_caption"] as? String == s.denseCaption)
            let image = try RGBImage(contentsOf: dir + "/" + (obj["image"] as! String))
            #expect(image.width == 64)
            var total = 0
            for i in 0..<image.pixels.count { total += abs(Int(image.pixels[i]) - Int(s.image.pixels[i])) }
            #expect(Double(total) / Double(image.pixels.count) < 3)
        }

        // manifest.csv (RFC 4180: the dense captions contain commas)
        let csvText = try String(contentsOfFile: dir + "/manifest.csv", encoding: .utf8)
        #expect(csvText.hasSuffix("\r\n"))
        let rows = CSV.parse(csvText)
        #expect(rows.first == ["key", "image", "short_captions", "long_caption"])
        #expect(rows.count == 11)
        for (row, s) in zip(rows.dropFirst(), samples) {
            #expect(row == [s.key, "images/\(s.key).jpg", s.shortCaptions.joined(separator: " || "), s.denseCaption])
        }
        #expect(CSV.parse(CSV.row(["a,b", "say \"hi\"", "line\nbreak", "plain"])) == [["a,b", "say \"hi\"", "line\nbreak", "plain"]])

        // pairs.csv
        let pairs = CSV.parse(try String(contentsOfFile: dir + "/pairs.csv", encoding: .utf8))
        #expect(pairs.first == ["short_caption", "long_caption"])
        #expect(Array(pairs.dropFirst()) == samples.map { [$0.shortCaptions[0], $0.denseCaption] })

        // shards: 4 + 4 + 2 samples, three members each, in order
        let (status, listing, err) = try run("/usr/bin/tar", ["-tf", dir + "/shard-00002.tar"])
        #expect(status == 0, "\(err)")
        #expect(listing.split(separator: "\n").map(String.init)
                == ["train-00000008.jpg", "train-00000008.txt", "train-00000008.json",
                    "train-00000009.jpg", "train-00000009.txt", "train-00000009.json"])
        let x = root + "/x"
        try FileManager.default.createDirectory(atPath: x, withIntermediateDirectories: true)
        let (xs, _, xerr) = try run("/usr/bin/tar", ["-xf", dir + "/shard-00001.tar", "-C", x])
        #expect(xs == 0, "\(xerr)")
        for s in samples[4..<8] {
            let jpg = FileManager.default.contents(atPath: "\(x)/\(s.key).jpg")
            #expect(jpg == FileManager.default.contents(atPath: "\(dir)/images/\(s.key).jpg"))
            #expect(String(decoding: FileManager.default.contents(atPath: "\(x)/\(s.key).txt") ?? Data(), as: UTF8.self) == s.shortCaptions[0])
            let obj = try JSONSerialization.jsonObject(with: FileManager.default.contents(atPath: "\(x)/\(s.key).json") ?? Data()) as! [String: Any]
            #expect(obj["key"] as? String == s.key)
            #expect(obj["short_captions"] as? [String] == s.shortCaptions)
            #expect(obj["long_caption"] as? String == s.denseCaption)
        }

        // scenes.json
        let info = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/scenes.json"))) as! [String: Any]
        #expect(info["seed"] as? Int == 12)
        #expect(info["count"] as? Int == 10)
        #expect(info["image_size"] as? Int == 64)
        #expect(info["split"] as? String == "train")
        #expect(info["held_out_wording"] as? Bool == false)
        #expect(info["version"] as? Int == SceneDataset.version)
        #expect(info["shard_size"] as? Int == 4)
    }

    @Test func exportIsDeterministic() throws {
        func export(_ name: String, threads: Int) throws -> [String: String] {
            let dir = try ScenesPaths.tempFolder(name)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            var options = SceneExportOptions()
            options.shardSize = 5
            options.threads = threads
            let e = try SceneExporter(directory: dir, options: options)
            try e.add(SceneDataset.generate(count: 7, seed: 3, imageSize: 32, threads: threads))
            try e.finish(info: SceneGenerationInfo(seed: 3, count: 7, imageSize: 32, split: .train, heldOutWording: false))
            var digests: [String: String] = [:]
            for f in ["manifest.jsonl", "manifest.csv", "pairs.csv", "scenes.json", "shard-00000.tar", "shard-00001.tar"] {
                digests[f] = try SHA256.hex(ofFile: dir + "/" + f)
            }
            return digests
        }
        #expect(try export("det1", threads: 1) == export("det2", threads: 2))
    }

    @Test func jsonEscaping() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t control \u{01} unicode é ✓"
        let text = JSONValue.object([("s", .string(tricky)), ("n", .int(-3)), ("b", .bool(true)), ("a", .array([.int(1)]))]).text
        let back = try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
        #expect(back["s"] as? String == tricky)
        #expect(back["n"] as? Int == -3)
        #expect(text.hasPrefix("{\"s\":"))
    }
}
