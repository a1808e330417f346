import Foundation
import Formats
import Images

/// What a reader or loader does with a bad row, record or image.
///
/// ```swift
/// let strict = try ImageTextDataset.readCSV("m.csv")                  // .stop: throws the first problem
/// let lenient = try ImageTextDataset.readCSV("m.csv", policy: .skip)  // keeps going
/// print("skipped \(lenient.skipped.count) rows")
/// ```
public enum ErrorPolicy: Sendable, Equatable {
    /// Throw the first ``DatasetError``.
    case stop
    /// Leave the row/sample out, and collect the problem in the result's `skipped` list.
    case skip
}

/// A problem in a data set, with where it is (file, line or byte offset, sample key) and a
/// message that says what to do about it.
///
/// ```swift
/// do { _ = try ImageTextDataset.readJSONL("train.jsonl") }
/// catch let e as DatasetError {
///     print(e)          // "train.jsonl:7: malformed JSON (line 7, column 12: expected ',' or '}'); fix or delete the line, or read with policy .skip"
///     print(e.line)     // 7
/// }
/// ```
public struct DatasetError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What is wrong.
    public enum Problem: Equatable, Sendable {
        /// The file or folder cannot be read.
        case unreadable(reason: String)
        /// A JSON document or JSONL line does not parse.
        case malformedJSON(String)
        /// A CSV record does not parse (unterminated quote, stray character after a quote).
        case malformedCSV(String)
        /// A CSV header lacks required columns (`found` lists the header).
        case missingColumns([String], found: [String])
        /// A CSV row has a different number of fields than the header.
        case wrongFieldCount(expected: Int, found: Int)
        /// A record lacks a required field.
        case missingField(String)
        /// A field has the wrong JSON type, or an unusable value.
        case invalidField(String, detail: String)
        /// A record has none of the caption fields (or only empty ones).
        case noCaption(fields: [String])
        /// The image a record names does not exist.
        case missingImage(path: String)
        /// The image exists but cannot be decoded.
        case undecodableImage(ImageError)
        /// A tar shard is damaged (bad header checksum, bad number, truncated member).
        case malformedArchive(String)
        /// A web-dataset sample lacks its image or any caption.
        case incompleteSample(String)
        /// An IDX file (MNIST / Fashion-MNIST) is malformed.
        case malformedIDX(String)
        /// Nothing usable was found.
        case noSamples(String)
    }

    /// The file (or folder, or `shard.tar:member`) the problem is in.
    public var file: String
    /// 1-based line of the record (the first line of a multi-line CSV record), when known.
    public var line: Int?
    /// Byte offset into an archive, when the problem is inside one.
    public var offset: Int?
    /// The sample's key or the record's position (`images[3]`), when known.
    public var key: String?
    public var problem: Problem

    public init(file: String, line: Int? = nil, offset: Int? = nil, key: String? = nil, problem: Problem) {
        self.file = file
        self.line = line
        self.offset = offset
        self.key = key
        self.problem = problem
    }

    /// `file:line`, `file at byte N`, or `file`.
    public var location: String {
        var s = file
        if let l = line { s += ":\(l)" }
        if let o = offset { s += " at byte \(o)" }
        if let k = key { s += " [\(k)]" }
        return s
    }

    public var description: String { "\(location): \(message)" }

    /// What is wrong and what to do, without the location.
    public var message: String {
        switch problem {
        case .unreadable(let r):
            return "cannot read (\(r)); check the path and its permissions"
        case .malformedJSON(let d):
            return "malformed JSON (\(d)); fix or delete the record, or read with policy .skip to leave it out"
        case .malformedCSV(let d):
            return "malformed CSV (\(d)); quote fields that contain commas, quotes or line breaks and double the quotes inside them"
        case .missingColumns(let cols, let found):
            return "the header lacks column(s) \(cols.joined(separator: ", ")) (header: \(found.joined(separator: ","))); rename the columns or pass their names in the fields option"
        case .wrongFieldCount(let e, let f):
            return "the row has \(f) field(s) but the header has \(e); add the missing fields (empty ones are fine) or quote fields that contain commas"
        case .missingField(let f):
            return "no \"\(f)\" field; add it to the record, or pass the field name the file uses in the fields option"
        case .invalidField(let f, let d):
            return "field \"\(f)\": \(d); fix the value"
        case .noCaption(let fs):
            return "no caption (none of \(fs.map { "\"\($0)\"" }.joined(separator: ", ")) is present and non-empty); add one or remove the record"
        case .missingImage(let p):
            return "image file \(p) does not exist; image paths are relative to the manifest's folder (or the image root): fix the path or remove the record"
        case .undecodableImage(let e):
            return "cannot decode the image (\(e)); replace the file or leave it out with policy .skip"
        case .malformedArchive(let d):
            return "damaged tar archive (\(d)); re-create or re-download the shard"
        case .incompleteSample(let d):
            return "incomplete sample (\(d)); every sample needs an image (.jpg/.jpeg/.png) and a caption (.txt or the caption fields of its .json)"
        case .malformedIDX(let d):
            return "malformed IDX file (\(d)); re-download it (images: magic 2051, labels: magic 2049, big-endian sizes, optionally gzip-compressed)"
        case .noSamples(let d):
            return "no samples (\(d)); check the path and the layout the reader expects"
        }
    }
}

/// Collects problems under a policy: `.stop` throws the first, `.skip` keeps them.
struct ProblemLog {
    let policy: ErrorPolicy
    var problems: [DatasetError] = []

    init(_ policy: ErrorPolicy) { self.policy = policy }

    mutating func report(_ e: DatasetError) throws {
        if policy == .stop { throw e }
        problems.append(e)
    }
}

// MARK: file helpers shared by the readers

enum DatasetFiles {
    /// The whole file (gzip-decompressed when it is gzip), or a DatasetError naming it.
    static func read(_ path: String) throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw DatasetError(file: path, problem: .unreadable(reason: "no such file"))
        }
        if isDir.boolValue {
            throw DatasetError(file: path, problem: .unreadable(reason: "it is a folder, not a file"))
        }
        do {
            return try Gzip.readMaybeCompressed(path: path)
        } catch {
            throw DatasetError(file: path, problem: .unreadable(reason: "\(error)"))
        }
    }

    /// The folder holding `path` ("." for a bare file name).
    static func folder(of path: String) -> String {
        let d = (path as NSString).deletingLastPathComponent
        return d.isEmpty ? "." : d
    }

    /// `rel` resolved against `root` (absolute paths are kept).
    static func resolve(_ rel: String, in root: String) -> String {
        if rel.hasPrefix("/") { return rel }
        if root.isEmpty || root == "." { return rel }
        return root.hasSuffix("/") ? root + rel : root + "/" + rel
    }

    static func isFile(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && !isDir.boolValue
    }

    static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }

    /// The names in a folder (not hidden ones), sorted, or a DatasetError.
    static func list(_ folder: String) throws -> [String] {
        guard isDirectory(folder) else {
            throw DatasetError(file: folder, problem: .unreadable(reason: "no such folder"))
        }
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }.sorted()
        } catch {
            throw DatasetError(file: folder, problem: .unreadable(reason: "\(error)"))
        }
    }

    /// The lower-cased extension of a file name ("" when none).
    static func ext(_ name: String) -> String { (name as NSString).pathExtension.lowercased() }
}
