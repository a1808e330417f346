internal import CImageCodecs

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// PNG encoding of 8-bit pixels through libpng.
public enum PNGEncoder {
    /// Encodes `pixels` (row-major, `channels` bytes per pixel: 1 grey, 2 grey+alpha, 3 RGB,
    /// 4 RGBA) as a PNG file in memory. `compressionLevel` is zlib's 0–9 (nil: libpng's default).
    public static func encode(pixels: [UInt8], width: Int, height: Int, channels: Int,
                              compressionLevel: Int? = nil, name: String = "<memory>") throws -> [UInt8] {
        precondition(pixels.count == width * height * channels,
                     "PNGEncoder: \(pixels.count) bytes do not make \(width)x\(height)x\(channels)")
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: Int(CIC_MESSAGE_LENGTH))
        let status = pixels.withUnsafeBufferPointer { p in
            cic_png_encode(p.baseAddress, Int32(width), Int32(height), Int32(channels),
                           Int32(compressionLevel ?? -1), &out, &size, &message)
        }
        defer { cic_free(out) }
        guard status == Int32(CIC_OK), let out else {
            let text = String(decoding: message.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw ImageError.writeFailed(path: name, reason: "PNG encoding failed: \(text)")
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Encodes and writes a PNG atomically (a temporary file in the same folder, then a rename):
    /// readers never see a half-written file, and on failure an existing file is left as it was.
    public static func write(pixels: [UInt8], width: Int, height: Int, channels: Int, to path: String,
                             compressionLevel: Int? = nil) throws {
        let data = try encode(pixels: pixels, width: width, height: height, channels: channels,
                              compressionLevel: compressionLevel, name: path)
        try writeFileAtomically(data, to: path)
    }
}

extension RGBImage {
    /// The image as a PNG file in memory; with `alpha` (one byte per pixel) an RGBA PNG.
    public func pngData(alpha: [UInt8]? = nil, compressionLevel: Int? = nil) throws -> [UInt8] {
        guard let alpha else {
            return try PNGEncoder.encode(pixels: pixels, width: width, height: height, channels: 3,
                                         compressionLevel: compressionLevel)
        }
        return try PNGEncoder.encode(pixels: interleaving(alpha), width: width, height: height, channels: 4,
                                     compressionLevel: compressionLevel)
    }

    /// Writes the image as a PNG (RGBA when `alpha` is given), atomically.
    public func writePNG(to path: String, alpha: [UInt8]? = nil, compressionLevel: Int? = nil) throws {
        if let alpha {
            try PNGEncoder.write(pixels: interleaving(alpha), width: width, height: height, channels: 4,
                                 to: path, compressionLevel: compressionLevel)
        } else {
            try PNGEncoder.write(pixels: pixels, width: width, height: height, channels: 3, to: path,
                                 compressionLevel: compressionLevel)
        }
    }

    private func interleaving(_ alpha: [UInt8]) -> [UInt8] {
        precondition(alpha.count == width * height, "alpha has \(alpha.count) values for \(width)x\(height) pixels")
        var rgba = [UInt8](repeating: 0, count: width * height * 4)
        for i in 0..<(width * height) {
            rgba[4 * i] = pixels[3 * i]; rgba[4 * i + 1] = pixels[3 * i + 1]; rgba[4 * i + 2] = pixels[3 * i + 2]
            rgba[4 * i + 3] = alpha[i]
        }
        return rgba
    }
}

private let tempCounter = AtomicCounter()

/// Writes `bytes` to a temporary file next to `path`, syncs it, and renames it over `path`.
func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
    let slash = path.lastIndex(of: "/")
    let dir = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let tmp = (dir.isEmpty ? "" : dir) + "/.\(base).tmp-\(getpid())-\(tempCounter.increment())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw ImageError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    var ok = true
    var reason = ""
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 {
                if errno == EINTR { continue }
                ok = false
                reason = String(cString: strerror(errno))
                return
            }
            off += n
        }
    }
    if ok && fsync(fd) != 0 { ok = false; reason = String(cString: strerror(errno)) }
    close(fd)
    if ok && rename(tmp, path) != 0 { ok = false; reason = String(cString: strerror(errno)) }
    if !ok {
        unlink(tmp)
        throw ImageError.writeFailed(path: path, reason: reason)
    }
}
