import Foundation
import Testing
import Datasets

@Suite struct ManifestTests {
    let jsonl = Fixtures.path("manifest/manifest.jsonl")
    let csv = Fixtures.path("manifest/manifest.csv")
    let images = Fixtures.path("manifest/images")

    @Test func jsonlGoodRowsParse() throws {
        let ds = try ImageTextDataset.readJSONL(jsonl, policy: .skip)
        #expect(ds.origin == jsonl)
        #expect(ds.samples.map(\.key) == ["red", "images/green.jpg", "corrupt", "blue", "42"])
        let red = ds[0]
        #expect(red.image == .file(images + "/red.png"))
        #expect(red.imagePath == images + "/red.png")
        #expect(red.shortCaptions == ["a red square", "red"])
        #expect(red.longCaption == "A small square image filled entirely with a bright red colour.")
        #expect(ds[1].shortCaptions == ["a green square"])
        #expect(ds[1].longCaption == "A green square, slightly compressed as a JPEG.")
        // Escapes, a surrogate pair, and an empty short_captions array with only a long caption.
        #expect(ds[3].shortCaptions == [])
        #expect(ds[3].longCaption == "A blue rectangle, wider than it is tall.\nSecond line é😀.")
        #expect(ds[4].shortCaptions == ["a checkerboard"])
        #expect(ds[4].longCaption == nil)
        #expect(ds[4].allCaptions == ["a checkerboard"])
    }

    @Test func jsonlBrokenRowsAreReportedWithLine() throws {
        let ds = try ImageTextDataset.readJSONL(jsonl, policy: .skip)
        #expect(ds.skipped.count == 4)
        #expect(ds.skipped.map(\.line) == [4, 5, 6, 10])
        #expect(ds.skipped.allSatisfy { $0.file == jsonl })
        guard ds.skipped.count == 4 else { return }
        if case .malformedJSON(let d) = ds.skipped[0].problem {
            #expect(d.contains("line 4"), "\(d)")
            #expect(d.contains("column"), "\(d)")
        } else { Issue.record("line 4: \(ds.skipped[0])") }
        #expect(ds.skipped[1].problem == .missingField("image"))
        #expect(ds.skipped[1].key == "noimage")
        #expect(ds.skipped[2].problem == .missingImage(path: images + "/missing.png"))
        #expect(ds.skipped[2].key == "gone")
        #expect(ds.skipped[3].problem == .noCaption(fields: ["short_captions", "short_caption", "long_caption"]))
        // Messages carry the location and say what to do.
        let text = ds.skipped[2].description
        #expect(text.hasPrefix("\(jsonl):6 [gone]: "), "\(text)")
        #expect(text.contains("missing.png") && text.contains("relative to the manifest"), "\(text)")
    }

    @Test func jsonlStopPolicyThrowsTheFirstProblem() {
        let e = expectDatasetError { _ = try ImageTextDataset.readJSONL(jsonl) }
        #expect(e?.line == 4)
        #expect(e?.file == jsonl)
        #expect(e?.description.contains("policy .skip") == true)
    }

    @Test func jsonlWithoutImageCheckKeepsMissingFiles() throws {
        let ds = try ImageTextDataset.readJSONL(jsonl, policy: .skip, checkImages: false)
        #expect(ds.samples.map(\.key).contains("gone"))
        #expect(ds.skipped.count == 3)
    }

    @Test func csvGoodRowsParse() throws {
        let ds = try ImageTextDataset.readCSV(csv, policy: .skip)
        #expect(ds.samples.map(\.key) == ["red", "green", "corrupt", "blue", "checker"])
        #expect(ds[0].shortCaptions == ["a red square", "red"])
        // Doubled quotes and a comma inside a quoted field.
        #expect(ds[0].longCaption == "A small square image, filled entirely with \"bright\" red.")
        // A quoted line break (the file uses CRLF) stays in the field.
        #expect(ds[1].longCaption == "A green square.\r\nIt spans two lines.")
        #expect(ds[1].image == .file(images + "/green.jpg"))
        #expect(ds[2].longCaption == nil)
        #expect(ds[3].shortCaptions == [])
        #expect(ds[3].longCaption == "Only a long caption, here.")
        #expect(ds[4].shortCaptions == ["a checkerboard", "black and white"])
    }

    @Test func csvBrokenRowsAreReportedInFileOrder() throws {
        let ds = try ImageTextDataset.readCSV(csv, policy: .skip)
        #expect(ds.skipped.map(\.line) == [5, 6, 9])
        guard ds.skipped.count == 3 else { return }
        #expect(ds.skipped[0].problem == .wrongFieldCount(expected: 4, found: 3))
        #expect(ds.skipped[1].problem == .missingImage(path: images + "/missing.png"))
        if case .malformedCSV(let d) = ds.skipped[2].problem {
            #expect(d.contains("closing quote"), "\(d)")
        } else { Issue.record("\(ds.skipped[2])") }
        let e = expectDatasetError { _ = try ImageTextDataset.readCSV(csv) }
        #expect(e?.line == 5)
        #expect(e?.description.hasPrefix("\(csv):5: the row has 3 field(s) but the header has 4") == true)
    }

    @Test func csvConfigurableColumns() throws {
        let fields = ManifestFields(image: "file", shortCaption: "title", longCaption: "recaption")
        let ds = try ImageTextDataset.readCSV(Fixtures.path("manifest/custom.csv"), fields: fields)
        #expect(ds.count == 2)
        #expect(ds[0].key == "images/red.png")
        #expect(ds[0].shortCaptions == ["a red square"])
        #expect(ds[0].longCaption == "A long red caption.")
        #expect(ds[1].longCaption == nil)
        // The default names are not in that header: the header is reported.
        let e = expectDatasetError { _ = try ImageTextDataset.readCSV(Fixtures.path("manifest/custom.csv"), policy: .skip) }
        #expect(e?.line == 1)
        #expect(e?.problem == .missingColumns(["image"], found: ["file", "title", "recaption", "extra"]))
    }

    @Test func csvQuotingEdgeCases() throws {
        let dir = Fixtures.scratch("csv-edges")
        try FileManager.default.copyItem(atPath: images + "/red.png", toPath: dir + "/r.png")
        let text = "\u{FEFF}image,short_caption,long_caption\n"
            + "r.png,\"\"\"quoted\"\" start\",\"multi\nline\n\nwith blank\"\n"
            + "\n"
            + "r.png,plain \"inner\" quotes,\n"
            + "r.png,\"\",\"only long\"\n"
            + "r.png,\"never closed,x\n"
            + "r.png,after,never\n"
        try Fixtures.write(text, to: dir + "/m.csv")
        let ds = try ImageTextDataset.readCSV(dir + "/m.csv", policy: .skip)
        #expect(ds.count == 3)
        #expect(ds[0].shortCaptions == ["\"quoted\" start"])
        #expect(ds[0].longCaption == "multi\nline\n\nwith blank")
        #expect(ds[1].shortCaptions == ["plain \"inner\" quotes"])
        #expect(ds[2].shortCaptions == [] && ds[2].longCaption == "only long")
        // The unterminated quote swallows the rest of the file and is reported at its line.
        #expect(ds.skipped.count == 1)
        #expect(ds.skipped.first?.line == 9)
        #expect(ds.skipped.first.map { if case .malformedCSV = $0.problem { return true } else { return false } } == true)
    }

    @Test func crlfBomAndGzipJSONL() throws {
        let dir = Fixtures.scratch("jsonl-gz")
        let text = "\u{FEFF}{\"image\": \"red.png\", \"short_caption\": \"one\"}\r\n\r\n{\"image\": \"checker.png\", \"short_caption\": \"two\"}\r\n"
        try Fixtures.write(text, to: dir + "/m.jsonl")
        try Fixtures.run("/bin/sh", ["-c", "gzip -k -n m.jsonl"], in: dir)
        for name in ["m.jsonl", "m.jsonl.gz"] {
            let ds = try ImageTextDataset.readManifest(dir + "/" + name, imageRoot: images)
            #expect(ds.samples.map(\.shortCaptions) == [["one"], ["two"]])
            #expect(ds[1].image == .file(images + "/checker.png"))
        }
    }

    @Test func readManifestChoosesTheFormat() throws {
        #expect(try ImageTextDataset.readManifest(csv, policy: .skip).count == 5)
        #expect(try ImageTextDataset.readManifest(jsonl, policy: .skip).count == 5)
    }

    @Test func jsonSyntaxErrorsSayWhere() throws {
        let dir = Fixtures.scratch("json-errors")
        let lines = [
            "{\"image\": \"a.png\", \"short_caption\": \"x\",}",         // trailing comma
            "{\"image\": \"a.png\" \"short_caption\": \"x\"}",            // missing comma
            "{\"image\": \"a.png\", \"short_caption\": \"bad \\q escape\"}",
            "{\"image\": \"a.png\", \"short_caption\": tru}",
            "{\"image\": \"a.png\"} extra",
            "[1, 2]",
            "{\"image\": 5, \"short_caption\": \"x\"}",
            "{\"image\": \"a.png\", \"short_captions\": [\"ok\", 3]}",
            "{\"image\": \"a.png\", \"short_caption\": \"\\ud83d\\ude00 -1.5e3\", \"key\": -1.5e3}",
        ]
        try Fixtures.write(lines.joined(separator: "\n"), to: dir + "/m.jsonl")
        let ds = try ImageTextDataset.readJSONL(dir + "/m.jsonl", policy: .skip, checkImages: false)
        #expect(ds.skipped.map(\.line) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(ds.count == 1)
        #expect(ds.samples.first?.shortCaptions == ["😀 -1.5e3"])
        #expect(ds.samples.first?.key == "-1500")
        let messages = ds.skipped.map(\.description)
        #expect(messages[0].contains("column 41"), "\(messages[0])")
        #expect(messages[1].contains("expected ',' or '}'"), "\(messages[1])")
        #expect(messages[2].contains("invalid escape"), "\(messages[2])")
        #expect(messages[4].contains("unexpected text after"), "\(messages[4])")
        #expect(messages[5].contains("an array, not an object"), "\(messages[5])")
        #expect(ds.skipped[6].problem == .invalidField("image", detail: "expected a path string, found a number"))
        if case .invalidField("short_captions", _) = ds.skipped[7].problem {} else { Issue.record("\(ds.skipped[7])") }
    }

    @Test func unreadableFilesAreReported() {
        let e = expectDatasetError { _ = try ImageTextDataset.readJSONL("/nonexistent/m.jsonl", policy: .skip) }
        #expect(e?.file == "/nonexistent/m.jsonl")
        #expect(e?.description.contains("no such file") == true)
        let d = expectDatasetError { _ = try ImageTextDataset.readCSV(Fixtures.root) }
        #expect(d?.description.contains("folder") == true)
    }

    @Test func captionsIterator() throws {
        let ds = try ImageTextDataset.readJSONL(jsonl, policy: .skip)
        let all = ds.captions(.all, batchSize: 3).map { $0 }
        #expect(all.map(\.count) == [3, 3, 2])
        let flat = all.flatMap { $0 }
        #expect(flat.map(\.text) == ["a red square", "red", "A small square image filled entirely with a bright red colour.",
                                     "a green square", "A green square, slightly compressed as a JPEG.", "a corrupt file",
                                     "A blue rectangle, wider than it is tall.\nSecond line é😀.", "a checkerboard"])
        #expect(flat.count == 8)
        #expect(flat[1].kind == .short(1) && flat[1].sample == 0 && flat[1].key == "red")
        #expect(flat[2].kind == .long)
        let shorts = Array(ds.captions(.short, batchSize: 100))
        #expect(shorts.count == 1 && shorts[0].count == 5)
        let longs = Array(ds.captions(.long, batchSize: 2)).flatMap { $0 }
        #expect(longs.map(\.sample) == [0, 1, 3])
        // Pairs: samples with both a short and a long caption.
        let pairs = ds.captionPairs()
        #expect(pairs.pairs == [CaptionPair(short: "a red square", long: "A small square image filled entirely with a bright red colour.", key: "red"),
                                CaptionPair(short: "a green square", long: "A green square, slightly compressed as a JPEG.", key: "images/green.jpg")])
    }
}
