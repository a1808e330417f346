import Foundation

/// One member of a tar archive.
///
/// ```swift
/// for e in archive.entries where e.kind == .file { print(e.name, e.size) }
/// ```
public struct TarEntry: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case file
        case directory
        case symbolicLink
        case hardLink
        /// Any other type flag (character and block devices, FIFOs, vendor extensions).
        case other(UInt8)
    }

    /// The full member name: from a GNU `././@LongLink` record or a pax `path` when present, else
    /// ustar's `prefix/name`.
    public var name: String
    public var kind: Kind
    /// Size of the member's data in bytes (a pax `size` overrides the header's).
    public var size: Int
    /// Where the member's data starts in the archive.
    public var dataOffset: Int
    /// Where the member's (own, last) 512-byte header starts.
    public var headerOffset: Int
    /// Link target for links (GNU `K` record or pax `linkpath` when present).
    public var linkName: String
    /// Modification time, seconds since 1970 (pax `mtime` when present, fractional part dropped).
    public var modificationTime: Int
    /// Permission bits.
    public var mode: Int
}

/// A POSIX tar archive (ustar, GNU and pax variants), read into memory or memory-mapped.
///
/// Understood: ustar `prefix` + `name`; GNU long names and link names (`././@LongLink`, type
/// `L`/`K`); pax extended headers (type `x`: `path`, `linkpath`, `size`, `mtime` records; type `g`
/// global headers are skipped); base-256 sizes for members over 8 GB; header checksums (unsigned
/// or signed sums); archives that end with zero blocks, or at a block boundary without them.
/// Sparse GNU members are listed as `.other`.
///
/// ```swift
/// let tar = try TarArchive(path: "shards/00000.tar")
/// for e in tar.entries where e.kind == .file {
///     let bytes = tar.contents(of: e)       // a slice of the archive's bytes, no copy
/// }
/// ```
public struct TarArchive: Sendable {
    /// The path read (used in errors).
    public let path: String
    /// The archive's bytes.
    public let data: Data
    /// Every member in archive order (the `L`/`K`/`x`/`g` records themselves are not listed).
    public let entries: [TarEntry]

    /// Reads (memory-maps when possible) and indexes the archive at `path`.
    public init(path: String) throws {
        guard DatasetFiles.isFile(path) else {
            throw DatasetError(file: path, problem: .unreadable(reason: DatasetFiles.isDirectory(path) ? "it is a folder, not a file" : "no such file"))
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw DatasetError(file: path, problem: .unreadable(reason: "\(error)"))
        }
        try self.init(data: data, name: path)
    }

    /// Indexes an archive held in memory; `name` is used in errors.
    public init(data: Data, name: String = "<tar>") throws {
        self.path = name
        self.data = data
        self.entries = try TarArchive.index(data, name: name)
    }

    /// The member's bytes: a slice of ``data`` (use its own indices), no copy.
    public func contents(of entry: TarEntry) -> Data {
        let start = data.startIndex + entry.dataOffset
        return data[start..<(start + entry.size)]
    }

    /// The first regular file named `name`, if any.
    public func entry(named name: String) -> TarEntry? {
        entries.first { $0.name == name && $0.kind == .file }
    }

    // MARK: parsing

    private static let block = 512

    private static func index(_ data: Data, name: String) throws -> [TarEntry] {
        try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [TarEntry] in
            let b = raw.bindMemory(to: UInt8.self)
            var entries: [TarEntry] = []
            var offset = 0
            var longName: String?
            var longLink: String?
            var pax: [String: String] = [:]

            func fail(_ detail: String, at o: Int) -> DatasetError {
                DatasetError(file: name, offset: o, problem: .malformedArchive(detail))
            }

            while offset < b.count {
                guard offset + block <= b.count else {
                    throw fail("the archive ends inside a header (\(b.count - offset) of 512 bytes)", at: offset)
                }
                let h = UnsafeBufferPointer(rebasing: b[offset..<(offset + block)])
                if h.allSatisfy({ $0 == 0 }) { break }  // end-of-archive marker
                try verifyChecksum(h, name: name, offset: offset)
                let type = h[156]
                var size = try number(h, 124, 12, field: "size", name: name, offset: offset)
                if let s = pax["size"] {
                    guard let v = Int(s), v >= 0 else { throw fail("pax size record \"\(s)\" is not a number", at: offset) }
                    size = v
                }
                let dataStart = offset + block
                guard size >= 0, size <= b.count - dataStart else {
                    throw fail("member \"\(text(h, 0, 100))\" needs \(size) bytes of data but only \(b.count - dataStart) remain (truncated archive)", at: offset)
                }
                let body = UnsafeBufferPointer(rebasing: b[dataStart..<(dataStart + size)])
                switch type {
                case UInt8(ascii: "L"):
                    longName = text(body, 0, body.count)
                case UInt8(ascii: "K"):
                    longLink = text(body, 0, body.count)
                case UInt8(ascii: "x"):
                    pax = try paxRecords(body, name: name, offset: offset)
                case UInt8(ascii: "g"):
                    _ = try paxRecords(body, name: name, offset: offset)  // validated, not applied
                default:
                    var memberName: String
                    if let n = pax["path"] {
                        memberName = n
                    } else if let n = longName {
                        memberName = n
                    } else {
                        memberName = text(h, 0, 100)
                        // POSIX ustar ("ustar\0" + "00"): a non-empty prefix comes before the name.
                        // (GNU's "ustar  \0" uses these bytes for times, not a prefix.)
                        let isPOSIX = h[257] == UInt8(ascii: "u") && h[258] == UInt8(ascii: "s") && h[259] == UInt8(ascii: "t")
                            && h[260] == UInt8(ascii: "a") && h[261] == UInt8(ascii: "r") && h[262] == 0
                        if isPOSIX {
                            let prefix = text(h, 345, 155)
                            if !prefix.isEmpty { memberName = prefix + "/" + memberName }
                        }
                    }
                    let kind: TarEntry.Kind
                    switch type {
                    case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = memberName.hasSuffix("/") ? .directory : .file
                    case UInt8(ascii: "1"): kind = .hardLink
                    case UInt8(ascii: "2"): kind = .symbolicLink
                    case UInt8(ascii: "5"): kind = .directory
                    default: kind = .other(type)
                    }
                    var mtime = try number(h, 136, 12, field: "mtime", name: name, offset: offset)
                    if let m = pax["mtime"], let v = Double(m) { mtime = Int(v) }
                    let mode = (try? number(h, 100, 8, field: "mode", name: name, offset: offset)) ?? 0
                    entries.append(TarEntry(name: memberName, kind: kind, size: size, dataOffset: dataStart,
                                            headerOffset: offset, linkName: pax["linkpath"] ?? longLink ?? text(h, 157, 100),
                                            modificationTime: mtime, mode: mode))
                    longName = nil
                    longLink = nil
                    pax = [:]
                }
                offset = dataStart + (size + block - 1) / block * block
            }
            return entries
        }
    }

    /// A NUL-terminated string field (UTF-8; invalid bytes replaced).
    private static func text(_ h: UnsafeBufferPointer<UInt8>, _ start: Int, _ length: Int) -> String {
        var end = start
        while end < start + length && h[end] != 0 { end += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: h[start..<end]), as: UTF8.self)
    }

    /// A numeric field: octal digits (leading spaces/NULs allowed, ended by a space or NUL), or
    /// GNU base-256 when the high bit of the first byte is set.
    private static func number(_ h: UnsafeBufferPointer<UInt8>, _ start: Int, _ length: Int, field: String,
                               name: String, offset: Int) throws -> Int {
        if h[start] & 0x80 != 0 {
            // Base-256, big-endian two's complement; only non-negative values make sense here.
            guard h[start] & 0x40 == 0 else {
                throw DatasetError(file: name, offset: offset, problem: .malformedArchive("negative base-256 \(field) field"))
            }
            var v = Int(h[start] & 0x3F)
            for k in (start + 1)..<(start + length) {
                guard v <= (Int.max >> 8) else {
                    throw DatasetError(file: name, offset: offset, problem: .malformedArchive("base-256 \(field) field overflows"))
                }
                v = (v << 8) | Int(h[k])
            }
            return v
        }
        var k = start
        let end = start + length
        while k < end && (h[k] == 0x20 || h[k] == 0) { k += 1 }
        var v = 0
        var digits = 0
        while k < end, h[k] >= UInt8(ascii: "0"), h[k] <= UInt8(ascii: "7") {
            guard v <= (Int.max >> 3) else {
                throw DatasetError(file: name, offset: offset, problem: .malformedArchive("octal \(field) field overflows"))
            }
            v = v * 8 + Int(h[k] - UInt8(ascii: "0"))
            k += 1
            digits += 1
        }
        while k < end && (h[k] == 0x20 || h[k] == 0) { k += 1 }
        if k < end {
            let shown = String(decoding: UnsafeBufferPointer(rebasing: h[start..<end]).map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
            throw DatasetError(file: name, offset: offset, problem: .malformedArchive("the \(field) field \"\(shown)\" is not an octal number"))
        }
        return v
    }

    private static func verifyChecksum(_ h: UnsafeBufferPointer<UInt8>, name: String, offset: Int) throws {
        let stored = try number(h, 148, 8, field: "checksum", name: name, offset: offset)
        var unsigned = 0, signed = 0
        for k in 0..<block {
            let c = (k >= 148 && k < 156) ? UInt8(0x20) : h[k]
            unsigned += Int(c)
            signed += Int(Int8(bitPattern: c))
        }
        if stored != unsigned && stored != signed {
            throw DatasetError(file: name, offset: offset, problem: .malformedArchive(
                "header checksum \(stored) does not match the computed \(unsigned) (not a tar file, or a damaged header)"))
        }
    }

    /// pax extended-header records: `"<length> <key>=<value>\n"`, length counting the whole record.
    private static func paxRecords(_ body: UnsafeBufferPointer<UInt8>, name: String, offset: Int) throws -> [String: String] {
        var out: [String: String] = [:]
        var k = 0
        func fail(_ d: String) -> DatasetError {
            DatasetError(file: name, offset: offset, problem: .malformedArchive("pax header: \(d)"))
        }
        while k < body.count {
            if body[k] == 0 { break }  // padding
            var length = 0
            var j = k
            while j < body.count, body[j] >= UInt8(ascii: "0"), body[j] <= UInt8(ascii: "9") {
                length = length * 10 + Int(body[j] - UInt8(ascii: "0"))
                j += 1
                if length > body.count { throw fail("record length exceeds the header") }
            }
            guard j > k, j < body.count, body[j] == 0x20 else { throw fail("record at byte \(k) does not start with '<length> '") }
            guard length > j - k + 1, k + length <= body.count, body[k + length - 1] == 0x0A else {
                throw fail("record at byte \(k) has a bad length \(length)")
            }
            let record = UnsafeBufferPointer(rebasing: body[(j + 1)..<(k + length - 1)])
            guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else { throw fail("record at byte \(k) has no '='") }
            let key = String(decoding: UnsafeBufferPointer(rebasing: record[record.startIndex..<eq]), as: UTF8.self)
            let value = String(decoding: UnsafeBufferPointer(rebasing: record[(eq + 1)..<record.endIndex]), as: UTF8.self)
            out[key] = value
            k += length
        }
        return out
    }
}
