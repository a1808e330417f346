import CZlib
import Foundation

/// Errors from decompressing gzip or zlib data.
public enum CompressionError: Error, CustomStringConvertible, Equatable {
    case corrupt(file: String, detail: String)

    public var description: String {
        switch self {
        case .corrupt(let f, let d): return "\(f): not valid gzip data (\(d)). Re-download the file or pass the uncompressed one."
        }
    }
}

/// Gzip (and raw zlib) decompression through the system zlib.
///
/// ```swift
/// let text = try Gzip.decompress(Data(contentsOf: url), name: url.path)
/// ```
public enum Gzip {
    /// True when `data` starts with the gzip magic bytes.
    public static func isGzip(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// Decompresses a whole gzip (or zlib) stream, including concatenated gzip members.
    /// `name` is used in error messages.
    public static func decompress(_ data: Data, name: String = "<data>") throws -> Data {
        var out = Data()
        var stream = z_stream()
        // 15 + 32: accept gzip or zlib headers automatically.
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw CompressionError.corrupt(file: name, detail: "zlib initialisation failed")
        }
        defer { inflateEnd(&stream) }
        let chunk = 1 << 16
        var buffer = [UInt8](repeating: 0, count: chunk)
        try data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            guard let base = src.bindMemory(to: UInt8.self).baseAddress else { return }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(src.count)
            while true {
                let status: Int32 = buffer.withUnsafeMutableBufferPointer { buf in
                    stream.next_out = buf.baseAddress
                    stream.avail_out = uInt(chunk)
                    let s = inflate(&stream, Z_NO_FLUSH)
                    out.append(buf.baseAddress!, count: chunk - Int(stream.avail_out))
                    return s
                }
                if status == Z_STREAM_END {
                    // Another gzip member may follow (as `cat a.gz b.gz` produces).
                    if stream.avail_in > 0 {
                        guard inflateReset(&stream) == Z_OK else { break }
                        continue
                    }
                    break
                }
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw CompressionError.corrupt(file: name, detail: "stream ends early after \(out.count) bytes")
                }
                guard status == Z_OK else {
                    let msg = stream.msg.map { String(cString: $0) } ?? "zlib status \(status)"
                    throw CompressionError.corrupt(file: name, detail: msg)
                }
            }
        }
        return out
    }

    /// Reads a file, decompressing it when it is gzip-compressed.
    public static func readMaybeCompressed(path: String) throws -> Data {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FormatError.cannotOpen(file: path, reason: "no such file or not readable")
        }
        return isGzip(data) ? try decompress(data, name: path) : data
    }
}
