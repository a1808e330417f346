internal import CImageCodecs

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The file formats the decoder reads, told apart by their first bytes.
public enum ImageFormat: String, Sendable {
    case jpeg = "JPEG"
    case png = "PNG"

    /// The format of `bytes` from its signature, or nil when it is neither JPEG nor PNG.
    public static func detect<C: Collection>(_ bytes: C) -> ImageFormat? where C.Element == UInt8 {
        let head = Array(bytes.prefix(8))
        if head.count >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF { return .jpeg }
        if head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        return nil
    }

    /// A name for other well-known formats, for error messages.
    static func describeOther(_ bytes: [UInt8]) -> String? {
        func starts(_ s: [UInt8], at o: Int = 0) -> Bool { bytes.count >= o + s.count && Array(bytes[o..<(o + s.count)]) == s }
        let ascii = { (s: String) in Array(s.utf8) }
        if starts(ascii("GIF87a")) || starts(ascii("GIF89a")) { return "GIF" }
        if starts(ascii("RIFF")) && starts(ascii("WEBP"), at: 8) { return "WebP" }
        if starts(ascii("BM")) { return "BMP" }
        if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A]) { return "TIFF" }
        if starts(ascii("ftyp"), at: 4) {
            if bytes.count >= 12 {
                let brand = String(decoding: bytes[8..<12], as: UTF8.self)
                if brand.hasPrefix("avi") { return "AVIF" }
                if brand.hasPrefix("hei") || brand.hasPrefix("mif") || brand.hasPrefix("hev") { return "HEIF/HEIC" }
            }
            return "ISO media (MP4/HEIF family)"
        }
        if starts([0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || starts([0xFF, 0x4F, 0xFF, 0x51]) { return "JPEG 2000" }
        if starts(ascii("qoif")) { return "QOI" }
        if starts([0xFF, 0x0A]) { return "JPEG XL" }
        if starts(ascii("8BPS")) { return "Photoshop (PSD)" }
        if starts(ascii("%PDF")) { return "PDF" }
        if bytes.count >= 2 && bytes[0] == UInt8(ascii: "P") && (UInt8(ascii: "1")...UInt8(ascii: "7")).contains(bytes[1]) {
            return "Netpbm (PBM/PGM/PPM)"
        }
        let text = bytes.prefix(64).drop(while: { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 || $0 == 0xEF || $0 == 0xBB || $0 == 0xBF })
        if text.starts(with: ascii("<svg")) || text.starts(with: ascii("<?xml")) { return "SVG/XML text" }
        if text.starts(with: ascii("<!DOCTYPE")) || text.starts(with: ascii("<html")) { return "HTML text" }
        return nil
    }
}

extension RGBImage {
    /// Pillow's decompression-bomb error threshold (2 × `Image.MAX_IMAGE_PIXELS`).
    public static let defaultMaxPixels = 178_956_970

    /// Decodes the JPEG or PNG file at `path` (format from its first bytes, not its extension) to
    /// RGB, dropping any alpha channel and, when `applyOrientation` is true, applying the EXIF
    /// Orientation as `PIL.ImageOps.exif_transpose` does.
    public init(contentsOf path: String, applyOrientation: Bool = true,
                maxPixels: Int = RGBImage.defaultMaxPixels) throws {
        let bytes = try readFile(path)
        self = try RGBImage.decode(bytes, name: path, applyOrientation: applyOrientation, maxPixels: maxPixels)
    }

    /// Decodes a JPEG or PNG held in memory; `name` identifies it in errors.
    public init<D: Collection>(data: D, name: String = "<memory>", applyOrientation: Bool = true,
                               maxPixels: Int = RGBImage.defaultMaxPixels) throws where D.Element == UInt8 {
        self = try RGBImage.decode(Array(data), name: name, applyOrientation: applyOrientation, maxPixels: maxPixels)
    }

    static func decode(_ bytes: [UInt8], name: String, applyOrientation: Bool, maxPixels: Int) throws -> RGBImage {
        guard !bytes.isEmpty else { throw ImageError.empty(name: name) }
        guard let format = ImageFormat.detect(bytes) else {
            throw ImageError.unsupportedFormat(name: name, detected: ImageFormat.describeOther(bytes))
        }
        let decoded: (image: RGBImage, orientation: Int)
        switch format {
        case .jpeg: decoded = try decodeJPEG(bytes, name: name, maxPixels: maxPixels)
        case .png: decoded = try decodePNG(bytes, name: name, maxPixels: maxPixels)
        }
        if applyOrientation, let op = Transpose(exifOrientation: decoded.orientation) {
            return decoded.image.transposed(op)
        }
        return decoded.image
    }
}

// MARK: file reading

/// Reads a whole file, mapping failures to ``ImageError``.
func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
        let e = errno
        if e == ENOENT || e == ENOTDIR { throw ImageError.fileNotFound(path: path) }
        throw ImageError.unreadable(path: path, reason: String(cString: strerror(e)))
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw ImageError.unreadable(path: path, reason: String(cString: strerror(errno))) }
    if (st.st_mode & S_IFMT) == S_IFDIR { throw ImageError.unreadable(path: path, reason: "it is a directory") }
    var out = [UInt8]()
    out.reserveCapacity(Int(st.st_size))
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ImageError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if n == 0 { break }
        out.append(contentsOf: chunk[0..<n])
    }
    return out
}

// MARK: JPEG

private func mapStatus(_ status: Int32, name: String, format: String, message: String,
                       width: Int32, height: Int32, maxPixels: Int) -> ImageError {
    switch status {
    case Int32(CIC_TRUNCATED): return .truncated(name: name, format: format, detail: message)
    case Int32(CIC_UNSUPPORTED): return .unsupportedContent(name: name, format: format, detail: message)
    case Int32(CIC_TOO_LARGE): return .tooLarge(name: name, width: Int(width), height: Int(height), limit: maxPixels)
    case Int32(CIC_NO_MEMORY): return .outOfMemory(name: name, detail: message)
    default: return .corrupt(name: name, format: format, detail: message)
    }
}

private func cString<T>(_ tuple: inout T) -> String {
    withUnsafeBytes(of: &tuple) { raw in
        let bytes = raw.prefix(while: { $0 != 0 })
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func copyBytes(_ p: UnsafeMutablePointer<UInt8>?, _ n: Int) -> [UInt8]? {
    guard let p, n > 0 else { return nil }
    return Array(UnsafeBufferPointer(start: p, count: n))
}

/// Pillow's `MULDIV255`: round(a * b / 255) in integers.
@inline(__always) private func mulDiv255(_ a: Int, _ b: Int) -> Int {
    let t = a * b + 128
    return ((t >> 8) + t) >> 8
}

private func decodeJPEG(_ bytes: [UInt8], name: String, maxPixels: Int) throws -> (image: RGBImage, orientation: Int) {
    var r = cic_jpeg_result()
    let status = bytes.withUnsafeBufferPointer { cic_jpeg_decode($0.baseAddress, $0.count, UInt64(maxPixels), &r) }
    defer { cic_jpeg_result_free(&r) }
    guard status == Int32(CIC_OK), let src = r.pixels else {
        throw mapStatus(status, name: name, format: "JPEG", message: cString(&r.message),
                        width: r.width, height: r.height, maxPixels: maxPixels)
    }
    let w = Int(r.width), h = Int(r.height), n = w * h
    var out = [UInt8](repeating: 0, count: n * 3)
    out.withUnsafeMutableBufferPointer { dst in
        switch r.components {
        case 1:
            for i in 0..<n { let v = src[i]; dst[3 * i] = v; dst[3 * i + 1] = v; dst[3 * i + 2] = v }
        case 3:
            dst.baseAddress!.update(from: src, count: n * 3)
        default:
            // CMYK / YCCK. Pillow reads every 4-channel JPEG as Adobe-inverted CMYK ("CMYK;I": it
            // stores 255 - v), then `convert("RGB")` computes R = K' - K'·C/255 with K' = 255 - K.
            for i in 0..<n {
                let k = Int(src[4 * i + 3])   // libjpeg's value = 255 - Pillow's K = Pillow's nk
                for c in 0..<3 {
                    let pc = 255 - Int(src[4 * i + c])
                    dst[3 * i + c] = UInt8(clamping: k - mulDiv255(pc, k))
                }
            }
        }
    }
    let orientation = orientationFrom(exif: copyBytes(r.exif, r.exif_size), rawExifHex: nil,
                                      xmp: copyBytes(r.xmp, r.xmp_size))
    return (RGBImage(width: w, height: h, pixels: out), orientation)
}

// MARK: PNG

private func decodePNG(_ bytes: [UInt8], name: String, maxPixels: Int) throws -> (image: RGBImage, orientation: Int) {
    var r = cic_png_result()
    let status = bytes.withUnsafeBufferPointer { cic_png_decode($0.baseAddress, $0.count, UInt64(maxPixels), &r) }
    defer { cic_png_result_free(&r) }
    guard status == Int32(CIC_OK), let src = r.pixels else {
        throw mapStatus(status, name: name, format: "PNG", message: cString(&r.message),
                        width: r.width, height: r.height, maxPixels: maxPixels)
    }
    let w = Int(r.width), h = Int(r.height), n = w * h
    var out = [UInt8](repeating: 0, count: n * 3)
    let ch = Int(r.channels)
    out.withUnsafeMutableBufferPointer { dst in
        switch ch {
        case 1, 2:  // grey (+ alpha, dropped)
            for i in 0..<n { let v = src[ch * i]; dst[3 * i] = v; dst[3 * i + 1] = v; dst[3 * i + 2] = v }
        case 3:
            dst.baseAddress!.update(from: src, count: n * 3)
        default:  // RGBA: alpha dropped, as Pillow's convert("RGB")
            for i in 0..<n { dst[3 * i] = src[4 * i]; dst[3 * i + 1] = src[4 * i + 1]; dst[3 * i + 2] = src[4 * i + 2] }
        }
    }
    let raw = copyBytes(r.raw_exif, r.raw_exif_size).map { String(decoding: $0, as: UTF8.self) }
    let orientation = orientationFrom(exif: copyBytes(r.exif, r.exif_size), rawExifHex: raw,
                                      xmp: copyBytes(r.xmp, r.xmp_size))
    return (RGBImage(width: w, height: h, pixels: out), orientation)
}

/// Names and versions of the codec libraries in use.
public enum ImageCodecs {
    public static var versions: String {
        String(cString: cic_jpeg_version()) + ", " + String(cString: cic_png_version())
    }
}
