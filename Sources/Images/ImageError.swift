/// Errors from reading, decoding and writing images. Every case names the file (`name` is the
/// path, or the name given to ``RGBImage/init(data:name:)``) and its description says what to do.
public enum ImageError: Error, CustomStringConvertible, Equatable, Sendable {
    /// No file at that path.
    case fileNotFound(path: String)
    /// The file exists but cannot be read (permissions, a directory, an I/O error).
    case unreadable(path: String, reason: String)
    /// The file has zero bytes.
    case empty(name: String)
    /// Neither JPEG nor PNG, judged by the first bytes (not the extension). `detected` names the
    /// format when it is a known one ("GIF", "WebP", …) and is nil for unknown bytes.
    case unsupportedFormat(name: String, detected: String?)
    /// The data ends before the image does.
    case truncated(name: String, format: String, detail: String)
    /// The decoder rejected the data.
    case corrupt(name: String, format: String, detail: String)
    /// A valid file of a kind not supported here (e.g. a 12-bit JPEG).
    case unsupportedContent(name: String, format: String, detail: String)
    /// More pixels than the decoder's limit (a guard against decompression bombs).
    case tooLarge(name: String, width: Int, height: Int, limit: Int)
    /// The decoder could not allocate memory.
    case outOfMemory(name: String, detail: String)
    /// Writing a file failed; any existing file at that path is left as it was.
    case writeFailed(path: String, reason: String)
    /// Several files of a batch failed (each entry names its file).
    case batchFailed([ImageError])

    public var description: String {
        switch self {
        case .fileNotFound(let p):
            return "\(p): no such image file; check the path (and run `bash scripts/assets.sh` for the test assets)"
        case .unreadable(let p, let r):
            return "\(p): cannot read the file (\(r)); check that it is a readable regular file"
        case .empty(let n):
            return "\(n): the file is empty (0 bytes); re-download or re-export it"
        case .unsupportedFormat(let n, let d):
            let what = d.map { "a \($0) file" } ?? "not a JPEG or PNG file (unrecognised leading bytes)"
            return "\(n): \(what); only JPEG and PNG are supported: convert it, e.g. `convert in.ext out.png`"
        case .truncated(let n, let f, let d):
            return "\(n): truncated \(f) (\(d)); the file is incomplete: re-download or re-export it"
        case .corrupt(let n, let f, let d):
            return "\(n): corrupt \(f) (\(d)); re-export it or drop it from the data set"
        case .unsupportedContent(let n, let f, let d):
            return "\(n): unsupported \(f) (\(d)); convert it to an 8-bit RGB or greyscale JPEG/PNG"
        case .tooLarge(let n, let w, let h, let l):
            return "\(n): \(w)×\(h) = \(w * h) pixels exceeds the limit of \(l); downscale it first or raise maxPixels"
        case .outOfMemory(let n, let d):
            return "\(n): out of memory while decoding (\(d)); free memory or downscale the image"
        case .writeFailed(let p, let r):
            return "\(p): write failed (\(r)); nothing was replaced: check the folder exists and is writable"
        case .batchFailed(let errors):
            let shown = errors.prefix(10).map { "  " + $0.description }.joined(separator: "\n")
            let more = errors.count > 10 ? "\n  … and \(errors.count - 10) more" : ""
            return "\(errors.count) image(s) failed to load:\n\(shown)\(more)"
        }
    }

    /// The file or name the error is about (nil for ``batchFailed(_:)``).
    public var name: String? {
        switch self {
        case .fileNotFound(let p), .unreadable(let p, _), .writeFailed(let p, _): return p
        case .empty(let n), .unsupportedFormat(let n, _), .truncated(let n, _, _), .corrupt(let n, _, _),
             .unsupportedContent(let n, _, _), .tooLarge(let n, _, _, _), .outOfMemory(let n, _):
            return n
        case .batchFailed: return nil
        }
    }
}
