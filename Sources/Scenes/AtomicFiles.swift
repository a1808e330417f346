import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors from writing a scenes data set.
public enum SceneExportError: Error, CustomStringConvertible, Equatable, Sendable {
    case io(path: String, reason: String)
    case encoding(key: String, reason: String)
    case finished

    public var description: String {
        switch self {
        case .io(let p, let r):
            return "\(p): \(r); nothing was replaced: check that the folder exists, is writable and has free space"
        case .encoding(let k, let r):
            return "sample \(k): \(r)"
        case .finished:
            return "the exporter has already finished; make a new SceneExporter"
        }
    }
}

private let tempCounter = SceneCounter()

final class SceneCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}

private func errnoText() -> String { String(cString: strerror(errno)) }

private func tempPath(for path: String) -> String {
    let slash = path.lastIndex(of: "/")
    let dir = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    return dir + "/." + base + ".tmp-\(getpid())-\(tempCounter.next())"
}

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        if n < 0 {
            if errno == EINTR { continue }
            return false
        }
        off += n
    }
    return true
}

/// Writes files atomically: a temporary file in the same folder, then a rename, so readers never
/// see a half-written file and a failed write leaves any existing file as it was.
enum AtomicFile {
    /// `sync` also flushes the data to disk before the rename (for files that matter after a
    /// crash; skipped for the many small image files).
    static func write(_ bytes: [UInt8], to path: String, sync: Bool = true) throws {
        let tmp = tempPath(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SceneExportError.io(path: path, reason: errnoText()) }
        var ok = bytes.withUnsafeBytes { writeAll(fd, $0) }
        var reason = ok ? "" : errnoText()
        if ok && sync && fsync(fd) != 0 { ok = false; reason = errnoText() }
        close(fd)
        if ok && rename(tmp, path) != 0 { ok = false; reason = errnoText() }
        if !ok {
            unlink(tmp)
            throw SceneExportError.io(path: path, reason: reason)
        }
    }

    static func write(_ text: String, to path: String, sync: Bool = true) throws {
        try write(Array(text.utf8), to: path, sync: sync)
    }
}

/// A file written by appending, that appears under its name only on ``commit()``.
final class StreamingAtomicFile {
    let path: String
    private let tmp: String
    private var fd: Int32
    private var buffer: [UInt8] = []

    init(path: String) throws {
        self.path = path
        tmp = tempPath(for: path)
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw SceneExportError.io(path: path, reason: errnoText()) }
    }

    func append(_ text: String) throws {
        buffer += Array(text.utf8)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        let ok = buffer.withUnsafeBytes { writeAll(fd, $0) }
        buffer.removeAll(keepingCapacity: true)
        if !ok { throw SceneExportError.io(path: path, reason: errnoText()) }
    }

    /// Flushes, syncs and renames into place.
    func commit() throws {
        try flush()
        guard fd >= 0 else { throw SceneExportError.io(path: path, reason: "already closed") }
        let ok = fsync(fd) == 0
        let reason = ok ? "" : errnoText()
        close(fd)
        fd = -1
        guard ok else { unlink(tmp); throw SceneExportError.io(path: path, reason: reason) }
        if rename(tmp, path) != 0 {
            let r = errnoText()
            unlink(tmp)
            throw SceneExportError.io(path: path, reason: r)
        }
    }

    /// Drops the temporary file.
    func abort() {
        if fd >= 0 { close(fd); fd = -1; unlink(tmp) }
    }

    deinit { abort() }
}

/// Creates a folder and its parents (like `mkdir -p`).
func makeDirectories(_ path: String) throws {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw SceneExportError.io(path: current, reason: errnoText())
        }
    }
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        throw SceneExportError.io(path: path, reason: "not a folder")
    }
}
