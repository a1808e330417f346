internal import CImageCodecs

/// How many chroma samples a JPEG keeps per luma sample.
public enum JPEGSubsampling: Sendable {
    /// Full-resolution colour (sharp colour edges; larger files).
    case s444
    /// Colour at half the horizontal resolution.
    case s422
    /// Colour at half the resolution in both directions: libjpeg's and Pillow's default.
    case s420

    var code: Int32 {
        switch self {
        case .s444: return Int32(CIC_JPEG_SUBSAMPLING_444)
        case .s422: return Int32(CIC_JPEG_SUBSAMPLING_422)
        case .s420: return Int32(CIC_JPEG_SUBSAMPLING_420)
        }
    }
}

/// JPEG encoding of 8-bit pixels through libjpeg-turbo (baseline, standard tables scaled to the
/// quality, integer DCT: the same bytes on every machine for one libjpeg-turbo version).
public enum JPEGEncoder {
    /// Encodes `pixels` (row-major, `channels` bytes per pixel: 1 grey or 3 RGB) as a JPEG file
    /// in memory. `quality` is libjpeg's 1–100.
    ///
    /// ```swift
    /// let bytes = try JPEGEncoder.encode(pixels: image.pixels, width: 64, height: 64, channels: 3)
    /// ```
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 95,
                              subsampling: JPEGSubsampling = .s420, name: String = "<memory>") throws -> [UInt8] {
        precondition(pixels.count == width * height * channels,
                     "JPEGEncoder: \(pixels.count) bytes do not make \(width)x\(height)x\(channels)")
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(CIC_MESSAGE_LENGTH))
        let status = pixels.withUnsafeBufferPointer { p in
            cic_jpeg_encode(p.baseAddress, Int32(width), Int32(height), Int32(channels), Int32(quality),
                            subsampling.code, &out, &size, &message)
        }
        defer { cic_free(out) }
        guard status == Int32(CIC_OK), let out else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError.writeFailed(path: name, reason: "JPEG encoding failed: \(text)")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }
}

extension RGBImage {
    /// The image as a JPEG file in memory (quality 1–100; 4:2:0 chroma by default, as Pillow).
    ///
    /// ```swift
    /// let bytes = try image.jpegData(quality: 95)
    /// let back = try RGBImage(data: bytes)      // within a few levels of `image`
    /// ```
    public func jpegData(quality: Int = 95, subsampling: JPEGSubsampling = .s420) throws -> [UInt8] {
        try JPEGEncoder.encode(pixels: pixels, width: width, height: height, channels: 3, quality: quality,
                               subsampling: subsampling)
    }

    /// Writes the image as a JPEG, atomically (a temporary file in the same folder, then a
    /// rename): readers never see a half-written file, and on failure an existing file is left
    /// as it was.
    public func writeJPEG(to path: String, quality: Int = 95, subsampling: JPEGSubsampling = .s420) throws {
        let data = try JPEGEncoder.encode(pixels: pixels, width: width, height: height, channels: 3,
                                          quality: quality, subsampling: subsampling, name: path)
        try writeFileAtomically(data, to: path)
    }
}
