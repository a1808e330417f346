import Foundation
import TensorKit

/// Errors from reading or writing model files. Each names the file and, where it applies, the
/// tensor, with what was expected and what was found.
public enum FormatError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(file: String, reason: String)
    case truncated(file: String, detail: String)
    case badHeader(file: String, detail: String)
    case badTensor(file: String, tensor: String, detail: String)
    case unsupportedDType(file: String, tensor: String, dtype: String)
    case missingTensor(file: String, tensor: String)
    case writeFailed(file: String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpen(let f, let r): return "\(f): cannot open (\(r))"
        case .truncated(let f, let d): return "\(f): file is truncated: \(d). Re-download or re-export it."
        case .badHeader(let f, let d): return "\(f): malformed safetensors header: \(d)"
        case .badTensor(let f, let t, let d): return "\(f): tensor '\(t)': \(d)"
        case .unsupportedDType(let f, let t, let d):
            return "\(f): tensor '\(t)' has dtype \(d); supported: F32, F16, BF16, I64, I32"
        case .missingTensor(let f, let t): return "\(f): no tensor named '\(t)'"
        case .writeFailed(let f, let r): return "\(f): write failed (\(r)); nothing was replaced"
        }
    }
}

/// A memory-mapped file region that lives as long as any tensor borrowing it.
final class MappedFile {
    let base: UnsafeMutableRawPointer
    let size: Int
    init(path: String) throws {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError.cannotOpen(file: path, reason: "stat failed") }
        size = Int(st.st_size)
        if size == 0 {
            base = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            return
        }
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw FormatError.cannotOpen(file: path, reason: "mmap failed")
        }
        base = p
    }
    deinit {
        if size == 0 { base.deallocate() } else { munmap(base, size) }
    }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsEntry: Sendable {
    public let name: String
    public let dtype: String
    public let shape: [Int]
    public let begin: Int
    public let end: Int
}

/// A safetensors file read through mmap: tensors are views of the mapping (float32 data is not
/// copied; F16/BF16 stay in their storage type; I64/I32 are read as integers).
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let w = try file.tensor("encoder.layer.0.attention.self.query.weight")
/// ```
public final class SafetensorsFile {
    public let path: String
    public let entries: [String: SafetensorsEntry]
    public let metadata: [String: String]
    private let mapping: MappedFile
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        let size = mapping.size
        guard size >= 8 else { throw FormatError.truncated(file: path, detail: "\(size) bytes, fewer than the 8-byte header length") }
        let headerLen = Int(mapping.base.loadUnaligned(as: UInt64.self).littleEndian)
        guard headerLen <= size - 8, headerLen < 100_000_000 else {
            throw FormatError.truncated(file: path, detail: "header length \(headerLen) beyond the file size \(size)")
        }
        dataStart = 8 + headerLen
        let headerData = Data(bytes: mapping.base + 8, count: headerLen)
        guard let json = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw FormatError.badHeader(file: path, detail: "header is not a JSON object")
        }
        var entries: [String: SafetensorsEntry] = [:]
        var meta: [String: String] = [:]
        let dataSize = size - dataStart
        for (name, value) in json {
            if name == "__metadata__" {
                if let m = value as? [String: Any] { for (k, v) in m { meta[k] = "\(v)" } }
                continue
            }
            guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int], let offs = info["data_offsets"] as? [Int], offs.count == 2
            else { throw FormatError.badHeader(file: path, detail: "entry '\(name)' lacks dtype, shape or data_offsets") }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw FormatError.badTensor(file: path, tensor: name, detail: "negative dimension in shape \(shape)")
            }
            guard let width = SafetensorsFile.width(dtype) else {
                throw FormatError.unsupportedDType(file: path, tensor: name, dtype: dtype)
            }
            guard offs[0] >= 0, offs[0] <= offs[1] else {
                throw FormatError.badTensor(file: path, tensor: name, detail: "data offsets \(offs) are reversed")
            }
            guard offs[1] <= dataSize else {
                throw FormatError.truncated(file: path, detail: "tensor '\(name)' ends at byte \(offs[1]) of a \(dataSize)-byte data section")
            }
            let expected = shape.reduce(1, *) * width
            guard offs[1] - offs[0] == expected else {
                throw FormatError.badTensor(file: path, tensor: name,
                                            detail: "shape \(shape) of \(dtype) needs \(expected) bytes but data offsets give \(offs[1] - offs[0])")
            }
            entries[name] = SafetensorsEntry(name: name, dtype: dtype, shape: shape, begin: offs[0], end: offs[1])
        }
        self.entries = entries
        metadata = meta
    }

    static func width(_ dtype: String) -> Int? {
        switch dtype {
        case "F32", "I32": return 4
        case "F16", "BF16": return 2
        case "I64", "F64": return 8
        default: return nil
        }
    }

    /// Tensor names, sorted.
    public var names: [String] { entries.keys.sorted() }

    /// The tensor, as a view of the mapping when it is float32/float16/bfloat16; I64/I32/F64 are
    /// converted to float32.
    public func tensor(_ name: String) throws -> Tensor {
        guard let e = entries[name] else { throw FormatError.missingTensor(file: path, tensor: name) }
        let ptr = mapping.base + dataStart + e.begin
        let n = e.shape.reduce(1, *)
        switch e.dtype {
        case "F32", "F16", "BF16":
            let dtype: DType = e.dtype == "F32" ? .float32 : (e.dtype == "F16" ? .float16 : .bfloat16)
            if Int(bitPattern: ptr) % 4 == 0 || dtype != .float32 {
                return Tensor(storage: Storage(borrowing: ptr, byteCount: max(e.end - e.begin, 1), dtype: dtype, owner: mapping), shape: e.shape)
            }
            let t = Tensor.empty(e.shape)
            memcpy(t.fptr, ptr, n * 4)
            return t
        case "I64":
            let t = Tensor.empty(e.shape)
            for i in 0..<n { t.fptr[i] = Float((ptr + 8 * i).loadUnaligned(as: Int64.self)) }
            return t
        case "I32":
            let t = Tensor.empty(e.shape)
            for i in 0..<n { t.fptr[i] = Float((ptr + 4 * i).loadUnaligned(as: Int32.self)) }
            return t
        case "F64":
            let t = Tensor.empty(e.shape)
            for i in 0..<n { t.fptr[i] = Float((ptr + 8 * i).loadUnaligned(as: Double.self)) }
            return t
        default:
            throw FormatError.unsupportedDType(file: path, tensor: name, dtype: e.dtype)
        }
    }

    /// Integer values of an I64/I32 tensor.
    public func integers(_ name: String) throws -> [Int] {
        try tensor(name).toArray().map { Int($0) }
    }
}

/// Writes tensors to a safetensors file atomically: the data goes to a temporary file in the
/// same folder, which is renamed over the target only when complete.
///
/// ```swift
/// try writeSafetensors(["w": w], to: "ckpt.safetensors", metadata: ["step": "100"])
/// ```
public func writeSafetensors(_ tensors: [String: Tensor], to path: String, metadata: [String: String] = [:]) throws {
    let names = tensors.keys.sorted()
    var header: [String: Any] = [:]
    if !metadata.isEmpty { header["__metadata__"] = metadata }
    var offset = 0
    var blobs: [(Tensor, DType)] = []
    for name in names {
        let t = tensors[name]!
        let dt = t.dtype
        let code = dt == .float32 ? "F32" : (dt == .float16 ? "F16" : "BF16")
        let bytes = t.count * dt.size
        header[name] = ["dtype": code, "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
        offset += bytes
        blobs.append((t, dt))
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    let dir = (path as NSString).deletingLastPathComponent
    let tmp = (dir.isEmpty ? "." : dir) + "/.\((path as NSString).lastPathComponent).tmp-\(getpid())"
    guard let fh = fopen(tmp, "wb") else { throw FormatError.writeFailed(file: path, reason: String(cString: strerror(errno))) }
    var ok = true
    var len = UInt64(json.count).littleEndian
    ok = ok && fwrite(&len, 8, 1, fh) == 1
    ok = ok && json.withUnsafeBytes { fwrite($0.baseAddress, 1, json.count, fh) == json.count }
    for (t, dt) in blobs where t.count > 0 {
        if dt == .float32 {
            let c = t.isContiguous ? t : t.detach().contiguous()
            ok = ok && fwrite(c.fptr, 4, c.count, fh) == c.count
        } else {
            precondition(t.isContiguous, "writing a strided half-precision view is not supported")
            ok = ok && fwrite(t.storage.base + t.offset * 2, 2, t.count, fh) == t.count
        }
    }
    ok = ok && fflush(fh) == 0 && fsync(fileno(fh)) == 0
    fclose(fh)
    guard ok, rename(tmp, path) == 0 else {
        unlink(tmp)
        throw FormatError.writeFailed(file: path, reason: "could not write \(tmp)")
    }
}
