import CEngine
import Foundation
import TensorKit

/// One metadata value of a GGUF file.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case float32(Float), bool(Bool), string(String), array([GGUFValue])
    case uint64(UInt64), int64(Int64), float64(Double)

    /// The value as an integer, when it is one of the integer types (or a bool).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        case .bool(let v): return v ? 1 : 0
        default: return nil
        }
    }
    /// The value as a floating-point number, when it is numeric.
    public var double: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        default: return int.map(Double.init)
        }
    }
    public var string: String? { if case .string(let s) = self { return s }; return nil }
    public var bool: Bool? { if case .bool(let b) = self { return b }; return int.map { $0 != 0 } }
    public var array: [GGUFValue]? { if case .array(let a) = self { return a }; return nil }
    /// Elements of a string array.
    public var strings: [String]? { array?.compactMap(\.string) }
    /// Elements of an integer array.
    public var ints: [Int]? { array?.compactMap(\.int) }

    /// A short rendering for `inspect` (long arrays are summarised).
    public var summary: String {
        switch self {
        case .string(let s): return s.count > 80 ? "\"\(s.prefix(77))...\" (\(s.count) chars)" : "\"\(s)\""
        case .array(let a):
            let head = a.prefix(4).map(\.summary).joined(separator: ", ")
            return a.count > 4 ? "[\(head), ...] (\(a.count) items)" : "[\(head)]"
        case .float32(let v): return "\(v)"
        case .float64(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        default: return int.map(String.init) ?? "?"
        }
    }
}

/// GGML tensor element types found in GGUF files.
public enum GGMLType: Int, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30

    public var name: String { String(describing: self).uppercased() }

    /// (elements, bytes) per block, for the types whose layout this reader knows.
    var blockLayout: (elems: Int, bytes: Int)? {
        switch self {
        case .f32, .i32: return (1, 4)
        case .f16, .bf16, .i16: return (1, 2)
        case .i8: return (1, 1)
        case .i64, .f64: return (1, 8)
        default:
            var e = 0, b = 0
            return ke_ggml_block_layout(Int32(rawValue), &e, &b) != 0 ? (e, b) : nil
        }
    }

    /// True when ``GGUFFile/tensor(_:)`` can turn this type into float32.
    public var isSupported: Bool {
        switch self {
        case .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K: return true
        default: return false
        }
    }
}

/// One entry of a GGUF tensor table. `shape` is row-major (outermost first): GGUF stores
/// dimensions innermost first, and they are reversed here.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    public let shape: [Int]
    public let type: GGMLType
    /// Offset from the start of the data section.
    public let offset: Int
    public let byteCount: Int
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A GGUF file (versions 2 and 3) read through mmap: metadata, tensor table, and tensors
/// dequantised to float32 on request (F16 and BF16 stay in their storage type).
///
/// ```swift
/// let gguf = try GGUFFile(path: "SmolLM2-135M-Instruct.Q4_1.gguf")
/// let layers = gguf.metadata["llama.block_count"]?.int
/// let embed = try gguf.tensor("token_embd.weight")   // [49152, 576] float32
/// ```
public final class GGUFFile {
    public let path: String
    public let version: Int
    /// Metadata in file order.
    public let metadataKeys: [String]
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensorInfos: [GGUFTensorInfo]
    public let alignment: Int
    private let index: [String: Int]
    private let mapping: MappedFile
    private let dataStart: Int

    public init(path: String) throws {
        self.path = path
        mapping = try MappedFile(path: path)
        var r = GGUFReader(base: mapping.base, size: mapping.size, file: path)
        let magic = try r.bytes(4)
        guard magic == Array("GGUF".utf8) else {
            throw FormatError.badHeader(file: path, detail: "not a GGUF file (magic bytes \(magic.map { String(format: "%02x", $0) }.joined()))")
        }
        let v = Int(try r.u32())
        guard v == 2 || v == 3 else {
            throw FormatError.badHeader(file: path, detail: "GGUF version \(v) is not supported (versions 2 and 3 are)")
        }
        version = v
        let nTensors = try r.u64(), nKV = try r.u64()
        guard nTensors < 1_000_000, nKV < 1_000_000 else {
            throw FormatError.badHeader(file: path, detail: "implausible counts: \(nTensors) tensors, \(nKV) metadata entries")
        }
        var keys: [String] = [], meta: [String: GGUFValue] = [:]
        for _ in 0..<nKV {
            let key = try r.string()
            let type = Int(try r.u32())
            meta[key] = try r.value(type: type, key: key, depth: 0)
            keys.append(key)
        }
        metadataKeys = keys
        metadata = meta
        let align = meta["general.alignment"]?.int ?? 32
        guard align > 0, align & (align - 1) == 0 else {
            throw FormatError.badHeader(file: path, detail: "general.alignment \(align) is not a power of two")
        }
        alignment = align
        var raw: [(String, [Int], Int, Int)] = []
        for _ in 0..<nTensors {
            let name = try r.string()
            let nDims = Int(try r.u32())
            guard nDims >= 1, nDims <= 4 else {
                throw FormatError.badTensor(file: path, tensor: name, detail: "\(nDims) dimensions (1 to 4 expected)")
            }
            var dims: [Int] = []
            for _ in 0..<nDims {
                let d = try r.u64()
                guard d < (1 << 40) else { throw FormatError.badTensor(file: path, tensor: name, detail: "dimension \(d) is implausible") }
                dims.append(Int(d))
            }
            let type = Int(try r.u32())
            let offset = try r.u64()
            guard offset < (1 << 50) else { throw FormatError.badTensor(file: path, tensor: name, detail: "offset \(offset) is implausible") }
            raw.append((name, dims, type, Int(offset)))
        }
        dataStart = (r.pos + align - 1) / align * align
        let dataSize = mapping.size - dataStart
        var infos: [GGUFTensorInfo] = [], index: [String: Int] = [:]
        for (name, dims, typeCode, offset) in raw {
            guard let type = GGMLType(rawValue: typeCode) else {
                throw FormatError.unsupportedDType(file: path, tensor: name, dtype: "GGML type code \(typeCode)")
            }
            let shape = Array(dims.reversed())
            let count = shape.reduce(1, *)
            var bytes = 0
            if let (e, b) = type.blockLayout {
                guard dims[0] % e == 0 else {
                    throw FormatError.badTensor(file: path, tensor: name,
                                                detail: "innermost dimension \(dims[0]) is not a multiple of the \(type.name) block size \(e)")
                }
                bytes = count / e * b
            }
            guard offset % align == 0 else {
                throw FormatError.badTensor(file: path, tensor: name, detail: "data offset \(offset) is not aligned to \(align)")
            }
            guard dataSize >= 0, offset + bytes <= dataSize else {
                throw FormatError.truncated(file: path, detail: "tensor '\(name)' needs bytes \(offset)..<\(offset + bytes) of a \(max(dataSize, 0))-byte data section")
            }
            guard index[name] == nil else { throw FormatError.badTensor(file: path, tensor: name, detail: "appears twice in the tensor table") }
            index[name] = infos.count
            infos.append(GGUFTensorInfo(name: name, shape: shape, type: type, offset: offset, byteCount: bytes))
        }
        tensorInfos = infos
        self.index = index
    }

    /// Tensor names in file order.
    public var names: [String] { tensorInfos.map(\.name) }

    public func info(_ name: String) -> GGUFTensorInfo? { index[name].map { tensorInfos[$0] } }

    /// The tensor as float32 (quantised types are dequantised; F16/BF16 are views in their
    /// storage type; F32 is a view of the mapping).
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else { throw FormatError.missingTensor(file: path, tensor: name) }
        let ptr = mapping.base + dataStart + info.offset
        switch info.type {
        case .f32:
            return Tensor(storage: Storage(borrowing: ptr, byteCount: max(info.byteCount, 1), dtype: .float32, owner: mapping), shape: info.shape)
        case .f16, .bf16:
            return Tensor(storage: Storage(borrowing: ptr, byteCount: max(info.byteCount, 1), dtype: info.type == .f16 ? .float16 : .bfloat16, owner: mapping),
                          shape: info.shape)
        default:
            guard info.type.isSupported, let (e, _) = info.type.blockLayout else {
                throw FormatError.unsupportedDType(file: path, tensor: name, dtype: "\(info.type.name) (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)")
            }
            let out = Tensor.empty(info.shape)
            _ = ke_dequantize(Int32(info.type.rawValue), ptr, out.fptr, info.elementCount / e)
            return out
        }
    }
}

/// A bounds-checked little-endian cursor over the mapped header.
struct GGUFReader {
    let base: UnsafeMutableRawPointer
    let size: Int
    let file: String
    var pos = 0

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, pos + n <= size else {
            throw FormatError.truncated(file: file, detail: "header ends while reading \(what()) at byte \(pos)")
        }
    }
    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size, "\(T.self)")
        let v = (base + pos).loadUnaligned(as: T.self)
        pos += MemoryLayout<T>.size
        return T(littleEndian: v)
    }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }
    mutating func bytes(_ n: Int) throws -> [UInt8] {
        try need(n, "\(n) bytes")
        let out = [UInt8](UnsafeRawBufferPointer(start: base + pos, count: n))
        pos += n
        return out
    }
    mutating func string() throws -> String {
        let n = try u64()
        guard n < UInt64(size) else { throw FormatError.truncated(file: file, detail: "string length \(n) at byte \(pos - 8) runs past the end") }
        try need(Int(n), "a string of \(n) bytes")
        let s = String(decoding: UnsafeRawBufferPointer(start: base + pos, count: Int(n)), as: UTF8.self)
        pos += Int(n)
        return s
    }
    mutating func value(type: Int, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try load(UInt8.self))
        case 1: return .int8(try load(Int8.self))
        case 2: return .uint16(try load(UInt16.self))
        case 3: return .int16(try load(Int16.self))
        case 4: return .uint32(try load(UInt32.self))
        case 5: return .int32(try load(Int32.self))
        case 6: return .float32(Float(bitPattern: try load(UInt32.self)))
        case 7: return .bool(try load(UInt8.self) != 0)
        case 8: return .string(try string())
        case 9:
            guard depth < 4 else { throw FormatError.badHeader(file: file, detail: "metadata '\(key)': arrays nested too deeply") }
            let elemType = Int(try u32())
            let n = try u64()
            guard n <= UInt64(size - pos) else {
                throw FormatError.truncated(file: file, detail: "metadata '\(key)': array of \(n) items runs past the end")
            }
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<n { items.append(try value(type: elemType, key: key, depth: depth + 1)) }
            return .array(items)
        case 10: return .uint64(try load(UInt64.self))
        case 11: return .int64(try load(Int64.self))
        case 12: return .float64(Double(bitPattern: try load(UInt64.self)))
        default:
            throw FormatError.badHeader(file: file, detail: "metadata '\(key)' has unknown value type \(type)")
        }
    }
}
