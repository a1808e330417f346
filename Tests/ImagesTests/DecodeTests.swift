import Foundation
import Testing
import Images

@Suite struct DecodeTests {
    /// Every synthetic file decodes like Pillow's `exif_transpose(open(f)).convert("RGB")`:
    /// PNG exactly; JPEG within 2 (libjpeg-turbo 2.1.5 here vs 3.1 bundled with Pillow).
    @Test func syntheticFilesMatchPillow() throws {
        let m = try Manifest.load()
        #expect(m.decode.count >= 30)
        var report = [String]()
        for e in m.decode {
            let expected = try expectedImage(e.expected)
            #expect(crc32(expected.pixels) == e.crc32, "golden \(e.expected) does not match its checksum")
            let image = try RGBImage(contentsOf: Paths.golden(e.input))
            #expect(image.width == e.width && image.height == e.height,
                    "\(e.input): \(image.width)x\(image.height), Pillow \(e.width)x\(e.height)")
            guard image.width == e.width && image.height == e.height else { continue }
            let d = image.maxAbsDifference(expected)
            report.append("\(e.input) max |Δ| = \(d) (\(differingValues(image, expected)) values differ)")
            if e.input.hasSuffix(".png") {
                #expect(d == 0, "\(e.input) differs from Pillow by up to \(d)")
            } else {
                #expect(d <= 2, "\(e.input) differs from Pillow by up to \(d)")
            }
        }
        print("decode vs Pillow \(m.pillow) (libjpeg-turbo \(m.pillow_libjpeg_turbo)); ours: \(ImageCodecs.versions)\n  "
              + report.joined(separator: "\n  "))
    }

    /// Real photos (scikit-image data): full-image checksum against Pillow, and the max
    /// difference on every 4th pixel.
    @Test func realPhotosMatchPillow() throws {
        let m = try Manifest.load()
        #expect(m.photos.count >= 6)
        var report = [String]()
        for p in m.photos {
            guard let path = Paths.asset(p.asset) else { continue }
            let image = try RGBImage(contentsOf: path)
            #expect(image.width == p.width && image.height == p.height, "\(p.asset) size")
            guard image.width == p.width && image.height == p.height else { continue }
            let exact = crc32(image.pixels) == p.crc32
            let sample = try expectedImage(p.sample)
            let d = subsample(image, step: p.sample_step).maxAbsDifference(sample)
            report.append("\(p.asset) (\(p.pillow_mode) \(p.width)x\(p.height)): \(exact ? "identical" : "max |Δ| on samples = \(d)")")
            if p.asset.hasSuffix(".png") {
                #expect(exact, "\(p.asset) differs from Pillow's decoding")
            } else {
                #expect(d <= 2, "\(p.asset) differs from Pillow by up to \(d) on the sampled pixels")
            }
        }
        print("real photos vs Pillow:\n  " + report.joined(separator: "\n  "))
    }

    @Test func formatIsDetectedFromBytesNotExtension() throws {
        let jpeg = try Data(contentsOf: URL(fileURLWithPath: Paths.golden("inputs/baseline_420.jpg")))
        let path = Paths.temp("really-a-jpeg.png")
        try jpeg.write(to: URL(fileURLWithPath: path))
        let a = try RGBImage(contentsOf: path)
        let b = try RGBImage(contentsOf: Paths.golden("inputs/baseline_420.jpg"))
        #expect(a == b)
        #expect(ImageFormat.detect(Array(jpeg)) == .jpeg)
        #expect(try RGBImage(data: jpeg, name: "x") == b)
    }

    @Test func exifOrientationIsApplied() throws {
        // The 40x24 source has a red block at its top-left; after exif_transpose it must be where
        // Pillow put it, and rotated orientations swap the size.
        let plain = try RGBImage(contentsOf: Paths.golden("inputs/exif_orientation_2.jpg"), applyOrientation: false)
        #expect(plain.width == 40 && plain.height == 24)
        for o in 2...8 {
            let image = try RGBImage(contentsOf: Paths.golden("inputs/exif_orientation_\(o).jpg"))
            let swapped = o >= 5
            #expect((image.width, image.height) == (swapped ? (24, 40) : (40, 24)), "orientation \(o)")
            #expect(image == plain.transposed(Transpose(exifOrientation: o)!), "orientation \(o)")
        }
        let be = try RGBImage(contentsOf: Paths.golden("inputs/exif_orientation_6_big_endian.jpg"))
        #expect(be == plain.transposed(.rotate270))
        // Orientation 6 means "rotate 90° clockwise to view": the red top-left block ends top-right.
        let (r, g, b) = be[be.width - 2, 1]
        #expect(r > 180 && g < 80 && b < 80)
        let xmp = try RGBImage(contentsOf: Paths.golden("inputs/xmp_orientation_8.jpg"))
        #expect(xmp == plain.transposed(.rotate90))
        let png = try RGBImage(contentsOf: Paths.golden("inputs/png_exif_orientation_6.png"))
        let pngPlain = try RGBImage(contentsOf: Paths.golden("inputs/png_exif_orientation_6.png"), applyOrientation: false)
        #expect(png == pngPlain.transposed(.rotate270))
        // PNG orientation from ImageMagick's hex "Raw profile type exif" text and from iTXt XMP.
        let raw = try RGBImage(contentsOf: Paths.golden("inputs/png_raw_exif_orientation_3.png"))
        #expect(raw == pngPlain.transposed(.rotate180))
        let pngXMP = try RGBImage(contentsOf: Paths.golden("inputs/png_xmp_orientation_8.png"))
        #expect(pngXMP == pngPlain.transposed(.rotate90))
    }

    @Test func exifParser() {
        func block(_ bigEndian: Bool, type: UInt16, count: UInt32, value: [UInt8]) -> [UInt8] {
            func u16(_ v: UInt16) -> [UInt8] { bigEndian ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)] }
            func u32(_ v: UInt32) -> [UInt8] {
                let b = [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
                return bigEndian ? b : b.reversed()
            }
            var d: [UInt8] = Array("Exif".utf8) + [0, 0]
            d += bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
            d += u16(42) + u32(8) + u16(2)
            d += u16(0x010F) + u16(2) + u32(4) + [0x41, 0x42, 0x43, 0]   // Make, before Orientation
            d += u16(0x0112) + u16(type) + u32(count) + value
            d += u32(0)
            return d
        }
        #expect(exifOrientation(block(false, type: 3, count: 1, value: [6, 0, 0, 0])) == 6)
        #expect(exifOrientation(block(true, type: 3, count: 1, value: [0, 8, 0, 0])) == 8)
        #expect(exifOrientation(block(true, type: 4, count: 1, value: [0, 0, 0, 3])) == 3)
        #expect(exifOrientation(block(false, type: 3, count: 2, value: [6, 0, 6, 0])) == nil)
        #expect(exifOrientation(Array(block(false, type: 3, count: 1, value: [6, 0, 0, 0]).prefix(20))) == nil)
        #expect(exifOrientation([]) == nil)
        #expect(exifOrientation(Array("Exif\0\0garbage!!".utf8)) == nil)
        #expect(xmpOrientation(Array(#"<a tiff:Orientation="6"/>"#.utf8)) == 6)
        #expect(xmpOrientation(Array("<tiff:Orientation>3</tiff:Orientation>".utf8)) == 3)
        #expect(xmpOrientation(Array(#"tiff:Orientation=x tiff:Orientation="5""#.utf8)) == 5)
        #expect(xmpOrientation(Array("nothing here".utf8)) == nil)
    }

    @Test func cmykFollowsPillowsAdobeConvention() throws {
        // Pillow reads every 4-channel JPEG as inverted CMYK; white paper (no ink) is stored as
        // 255 and must come out white, full black ink (stored 0) black.
        for name in ["cmyk", "ycck"] {
            let image = try RGBImage(contentsOf: Paths.golden("inputs/\(name).jpg"))
            let expected = try expectedImage("expected/\(name).png")
            #expect(image.maxAbsDifference(expected) <= 2, "\(name)")
        }
    }

    @Test func alphaIsDroppedNotComposited() throws {
        // An RGBA pixel with alpha 0 keeps its colour (Pillow's convert("RGB") does not composite).
        let rgba: [UInt8] = [10, 20, 30, 0, 200, 100, 50, 128]
        let png = try PNGEncoder.encode(pixels: rgba, width: 2, height: 1, channels: 4)
        let image = try RGBImage(data: png)
        #expect(image.pixels == [10, 20, 30, 200, 100, 50])
        let la: [UInt8] = [77, 0, 99, 255]
        let image2 = try RGBImage(data: try PNGEncoder.encode(pixels: la, width: 2, height: 1, channels: 2))
        #expect(image2.pixels == [77, 77, 77, 99, 99, 99])
    }

    @Test func sixteenBitGreyKeepsTheHighByte() throws {
        // Documented difference: Pillow's convert("RGB") of an "I;16" image clips to 255.
        let m = try Manifest.load()
        let e = try #require(m.decode.first { $0.input.hasSuffix("png_grey16.png") })
        let image = try RGBImage(contentsOf: Paths.golden(e.input))
        #expect(crc32(image.pixels) == e.crc32)
        #expect(e.pillow_convert_rgb_crc32 != e.crc32)
    }
}
