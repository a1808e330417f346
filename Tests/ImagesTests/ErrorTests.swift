import Foundation
import Testing
import TensorKit
import Images

private func bytes(_ rel: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: Paths.golden(rel))))
}

private func write(_ b: [UInt8], _ name: String) throws -> String {
    let p = Paths.temp(name)
    try Data(b).write(to: URL(fileURLWithPath: p))
    return p
}

/// Decoding `path` throws an ImageError that names the path and satisfies `check`.
private func expectError(_ path: String, sourceLocation: SourceLocation = #_sourceLocation,
                         _ check: (ImageError) -> Bool) {
    do {
        let image = try RGBImage(contentsOf: path)
        Issue.record("\(path) decoded to \(image.width)x\(image.height) instead of failing", sourceLocation: sourceLocation)
    } catch let e as ImageError {
        #expect(check(e), "unexpected error: \(e)", sourceLocation: sourceLocation)
        #expect(e.name == path, "error does not name the file: \(e)", sourceLocation: sourceLocation)
        #expect(e.description.contains(path), sourceLocation: sourceLocation)
    } catch {
        Issue.record("untyped error \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct ErrorTests {
    @Test func truncatedJPEGsFail() throws {
        for name in ["baseline_420.jpg", "progressive.jpg", "grey.jpg", "cmyk.jpg"] {
            let full = try bytes("inputs/\(name)")
            for keep in [full.count / 2, full.count - 40, 300] {
                let p = try write(Array(full.prefix(keep)), "cut-\(keep)-\(name)")
                expectError(p) { e in
                    if case .truncated(_, "JPEG", let d) = e { return d.contains("Premature end") } else { return false }
                }
            }
        }
        // Only two bytes: the signature, then nothing.
        expectError(try write([0xFF, 0xD8, 0xFF], "sig-only.jpg")) { e in
            if case .truncated = e { return true } else { return false }
        }
    }

    @Test func truncatedPNGsFail() throws {
        for name in ["png_rgb8.png", "png_interlaced_rgb.png", "png_palette8_trns.png", "png_rgb16.png"] {
            let full = try bytes("inputs/\(name)")
            for keep in [full.count / 2, 40, 8] {
                let p = try write(Array(full.prefix(keep)), "cut-\(keep)-\(name)")
                expectError(p) { e in
                    if case .truncated(_, "PNG", _) = e { return true } else { return false }
                }
            }
        }
    }

    @Test func aPNGMissingOnlyItsEndChunkStillDecodes() throws {
        // Like Pillow: the image data is complete, only IEND (12 bytes) is gone.
        let full = try bytes("inputs/png_rgb8.png")
        let p = try write(Array(full.dropLast(12)), "no-iend.png")
        #expect(try RGBImage(contentsOf: p) == RGBImage(contentsOf: Paths.golden("inputs/png_rgb8.png")))
    }

    @Test func corruptPNGFails() throws {
        var b = try bytes("inputs/png_rgb8.png")
        b[20] ^= 0xFF   // inside IHDR: its CRC no longer matches
        expectError(try write(b, "bad-crc.png")) { e in
            if case .corrupt(_, "PNG", _) = e { return true } else { return false }
        }
        var z = try bytes("inputs/png_rgb8.png")
        // Scramble the compressed image data (keep the chunk CRCs wrong too: still an error).
        for i in 60..<min(200, z.count - 20) { z[i] = UInt8(truncatingIfNeeded: i &* 37) }
        expectError(try write(z, "bad-idat.png")) { e in
            if case .corrupt = e { return true } else { return false }
        }
    }

    @Test func corruptJPEGFails() throws {
        var b = try bytes("inputs/baseline_420.jpg")
        // Destroy the SOF marker's length/precision: libjpeg rejects the header.
        if let i = (2..<(b.count - 1)).first(where: { b[$0] == 0xFF && b[$0 + 1] == 0xC0 }) {
            b[i + 4] = 13   // precision 13 bits
        }
        expectError(try write(b, "bad-sof.jpg")) { e in
            switch e {
            case .corrupt(_, "JPEG", _), .unsupportedContent(_, "JPEG", _): return true
            default: return false
            }
        }
    }

    @Test func randomBytesEmptyAndOtherFormats() throws {
        var rng = RNG(seed: 3)
        let noise = (0..<4096).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        expectError(try write(noise, "noise.jpg")) { e in
            if case .unsupportedFormat(_, nil) = e { return true } else { return false }
        }
        expectError(try write([], "empty.png")) { e in
            if case .empty = e { return true } else { return false }
        }
        expectError(try write(Array("GIF89a".utf8) + [1, 0, 1, 0, 0, 0, 0], "anim.jpg")) { e in
            if case .unsupportedFormat(_, "GIF") = e { return e.description.contains("convert") } else { return false }
        }
        expectError(try write(Array("RIFF\u{0}\u{0}\u{0}\u{0}WEBPVP8 ".utf8), "x.webp")) { e in
            if case .unsupportedFormat(_, "WebP") = e { return true } else { return false }
        }
        // The JPEG signature followed by noise.
        expectError(try write([0xFF, 0xD8, 0xFF] + noise, "noise-after-soi.jpg")) { e in
            switch e {
            case .corrupt, .truncated, .unsupportedContent: return true
            default: return false
            }
        }
        // Bytes in memory: the error names what the caller called them.
        #expect(throws: ImageError.empty(name: "upload #3")) { try RGBImage(data: [UInt8](), name: "upload #3") }
    }

    @Test func missingFileAndDirectory() throws {
        let missing = Paths.temp("does-not-exist.jpg")
        #expect(throws: ImageError.fileNotFound(path: missing)) { try RGBImage(contentsOf: missing) }
        let err = ImageError.fileNotFound(path: missing)
        #expect(err.description.contains(missing))
        let dir = Paths.temp("a-folder.png")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        expectError(dir) { e in
            if case .unreadable = e { return true } else { return false }
        }
    }

    @Test func pixelLimit() throws {
        let path = Paths.golden("inputs/baseline_420.jpg")
        #expect(throws: ImageError.tooLarge(name: path, width: 61, height: 45, limit: 1000)) {
            try RGBImage(contentsOf: path, maxPixels: 1000)
        }
        let png = Paths.golden("inputs/png_rgb8.png")
        #expect(throws: ImageError.tooLarge(name: png, width: 61, height: 45, limit: 100)) {
            try RGBImage(contentsOf: png, maxPixels: 100)
        }
    }

    /// Damaged files never crash: each either decodes (libjpeg, like Pillow, decodes through
    /// corrupt entropy-coded data) or throws a typed error naming the input.
    @Test func mutatedFilesNeverCrash() throws {
        var rng = RNG(seed: 77)
        var outcomes = [String: Int]()
        for name in ["baseline_420.jpg", "progressive.jpg", "cmyk.jpg", "exif_orientation_6.jpg",
                     "png_rgb8.png", "png_interlaced_rgba16.png", "png_palette8_trns.png", "png_exif_orientation_6.png"] {
            let original = try bytes("inputs/\(name)")
            for trial in 0..<150 {
                var b = original
                let edits = 1 + rng.nextInt(8)
                for _ in 0..<edits {
                    let i = 2 + rng.nextInt(b.count - 2)   // keep the signature's first bytes
                    b[i] = UInt8(truncatingIfNeeded: rng.next())
                }
                if trial % 3 == 0 { b = Array(b.prefix(3 + rng.nextInt(b.count - 3))) }
                let label = "\(name)#\(trial)"
                do {
                    let image = try RGBImage(data: b, name: label)
                    #expect(image.pixels.count == image.width * image.height * 3)
                    outcomes["decoded", default: 0] += 1
                } catch let e as ImageError {
                    #expect(e.name == label)
                    outcomes["\(e)".split(separator: ":")[1].split(separator: " ").prefix(2).joined(separator: " "), default: 0] += 1
                }
            }
        }
        print("mutated files: \(outcomes.sorted { $0.key < $1.key })")
    }

    @Test func messagesSayWhatToDo() {
        let cases: [ImageError] = [
            .truncated(name: "a.jpg", format: "JPEG", detail: "Premature end of JPEG file"),
            .corrupt(name: "b.png", format: "PNG", detail: "IHDR: CRC error"),
            .unsupportedFormat(name: "c.gif", detected: "GIF"),
            .empty(name: "d.png"),
            .fileNotFound(path: "e.jpg"),
        ]
        for e in cases {
            #expect(e.description.contains(e.name!))
            #expect(["re-download", "re-export", "convert", "check the path"].contains { e.description.contains($0) }, "\(e)")
        }
        let batch = ImageError.batchFailed(cases)
        #expect(batch.description.contains("5 image(s) failed"))
    }
}
