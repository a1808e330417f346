/// Errors from ``TarWriter``.
public enum TarError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The name does not fit ustar's 100-byte name + 155-byte prefix.
    case nameTooLong(String)
    /// More than ustar's 8 GiB − 1 bytes.
    case memberTooLarge(name: String, size: Int)
    case emptyName

    public var description: String {
        switch self {
        case .nameTooLong(let n):
            return "tar member name '\(n)' (\(n.utf8.count) bytes) does not fit ustar's 100-byte name and 155-byte folder prefix; use a shorter key"
        case .memberTooLarge(let n, let s):
            return "tar member '\(n)' has \(s) bytes, more than ustar's limit of 8 GiB − 1"
        case .emptyName:
            return "tar member with an empty name"
        }
    }
}

/// A POSIX ustar archive built in memory: 512-byte headers (octal fields, checksum), data padded
/// to 512 bytes, two zero blocks at the end. Readable by GNU tar, bsdtar, Python's `tarfile` and
/// the web-dataset loaders.
///
/// ```swift
/// var tar = TarWriter()
/// try tar.append(name: "000001.txt", contents: Array("a caption".utf8))
/// let bytes = tar.finish()     // write it with a temporary file + rename
/// ```
public struct TarWriter: Sendable {
    public static let blockSize = 512
    /// Largest member size a ustar header can state (11 octal digits).
    public static let maxMemberSize = 0o77777777777

    public private(set) var bytes: [UInt8] = []
    public private(set) var memberCount = 0
    /// Modification time written in every header (seconds since 1970); fixed so that the same
    /// members give the same archive bytes.
    public var modificationTime: Int

    public init(modificationTime: Int = 0, reservingCapacity: Int = 0) {
        self.modificationTime = modificationTime
        bytes.reserveCapacity(reservingCapacity)
    }

    /// Appends a regular file (mode 0644, owner 0:0).
    public mutating func append(name: String, contents: [UInt8]) throws {
        let (prefix, base) = try TarWriter.split(name)
        guard contents.count <= TarWriter.maxMemberSize else {
            throw TarError.memberTooLarge(name: name, size: contents.count)
        }
        var h = [UInt8](repeating: 0, count: TarWriter.blockSize)
        func put(_ s: [UInt8], at offset: Int) { for (i, b) in s.enumerated() { h[offset + i] = b } }
        /// `width - 1` octal digits, zero-padded, then a NUL.
        func octal(_ value: Int, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: width - 1 - digits.count) + digits).utf8) + [0]
        }
        put(Array(base.utf8), at: 0)
        put(octal(0o644, width: 8), at: 100)
        put(octal(0, width: 8), at: 108)                   // uid
        put(octal(0, width: 8), at: 116)                   // gid
        put(octal(contents.count, width: 12), at: 124)
        put(octal(modificationTime, width: 12), at: 136)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148)   // checksum field counts as spaces
        h[156] = UInt8(ascii: "0")                         // regular file
        put(Array("ustar".utf8) + [0], at: 257)
        put(Array("00".utf8), at: 263)
        put(octal(0, width: 8), at: 329)                   // devmajor
        put(octal(0, width: 8), at: 337)                   // devminor
        put(Array(prefix.utf8), at: 345)
        let sum = h.reduce(0) { $0 + Int($1) }
        put(octal(sum, width: 7) + [UInt8(ascii: " ")], at: 148)  // six digits, NUL, space
        bytes += h
        bytes += contents
        let pad = (TarWriter.blockSize - contents.count % TarWriter.blockSize) % TarWriter.blockSize
        bytes += [UInt8](repeating: 0, count: pad)
        memberCount += 1
    }

    /// The archive with its two terminating zero blocks.
    public func finish() -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: 2 * TarWriter.blockSize)
    }

    /// Splits a path into ustar's (prefix, name): the name alone when it fits 100 bytes,
    /// otherwise at the last '/' that makes both parts fit.
    static func split(_ path: String) throws -> (String, String) {
        let utf8 = Array(path.utf8)
        guard !utf8.isEmpty else { throw TarError.emptyName }
        if utf8.count <= 100 { return ("", path) }
        for i in stride(from: utf8.count - 1, through: 0, by: -1) where utf8[i] == UInt8(ascii: "/") {
            if i <= 155 && utf8.count - i - 1 <= 100 && utf8.count - i - 1 > 0 {
                return (String(decoding: utf8[..<i], as: UTF8.self), String(decoding: utf8[(i + 1)...], as: UTF8.self))
            }
        }
        throw TarError.nameTooLong(path)
    }
}
