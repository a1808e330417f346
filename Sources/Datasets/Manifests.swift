import Foundation

/// The field (JSONL) or column (CSV) names of an image–caption manifest.
///
/// ```swift
/// var f = ManifestFields()
/// f.image = "filepath"; f.shortCaption = "title"; f.longCaption = "recaption"
/// let ds = try ImageTextDataset.readCSV("laion.csv", fields: f)
/// ```
public struct ManifestFields: Sendable, Equatable {
    /// Optional sample key; when absent the image path as written in the manifest is the key.
    public var key: String
    /// Image path, relative to the manifest's folder (or to the reader's `imageRoot`).
    public var image: String
    /// Several short captions: a JSON array of strings, or in CSV one cell joined by `separator`.
    public var shortCaptions: String
    /// One short caption (used when `shortCaptions` is absent or empty).
    public var shortCaption: String
    /// The long caption.
    public var longCaption: String
    /// What joins several short captions in one CSV cell.
    public var separator: String

    public init(key: String = "key", image: String = "image", shortCaptions: String = "short_captions",
                shortCaption: String = "short_caption", longCaption: String = "long_caption",
                separator: String = " || ") {
        self.key = key
        self.image = image
        self.shortCaptions = shortCaptions
        self.shortCaption = shortCaption
        self.longCaption = longCaption
        self.separator = separator
    }

    var captionFields: [String] { [shortCaptions, shortCaption, longCaption] }
}

extension ImageTextDataset {
    /// Reads an image–caption manifest, choosing the format by extension: `.csv` (optionally
    /// `.csv.gz`) as CSV, anything else (`.jsonl`, `.json`, `.jsonlines`, `.ndjson`) as JSONL.
    ///
    /// ```swift
    /// let ds = try ImageTextDataset.readManifest("data/train.csv", policy: .skip)
    /// ```
    public static func readManifest(_ path: String, fields: ManifestFields = ManifestFields(), imageRoot: String? = nil,
                                    policy: ErrorPolicy = .stop, checkImages: Bool = true) throws -> ImageTextDataset {
        var name = path.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        if name.hasSuffix(".csv") {
            return try readCSV(path, fields: fields, imageRoot: imageRoot, policy: policy, checkImages: checkImages)
        }
        return try readJSONL(path, fields: fields, imageRoot: imageRoot, policy: policy, checkImages: checkImages)
    }

    /// Reads a JSON-lines manifest: one object per line,
    /// `{"key"?: .., "image": "rel/path.jpg", "short_captions": [..] | "short_caption": "..", "long_caption": ".."}`.
    /// Blank lines are ignored; the file may be gzip-compressed. Each sample needs an image and at
    /// least one non-empty caption. With `checkImages`, a record whose image file does not exist
    /// is a problem (``DatasetError/Problem/missingImage(path:)``).
    ///
    /// ```swift
    /// let ds = try ImageTextDataset.readJSONL("data/train.jsonl")
    /// print(ds[0].imagePath, ds[0].shortCaptions, ds[0].longCaption ?? "-")
    /// ```
    public static func readJSONL(_ path: String, fields: ManifestFields = ManifestFields(), imageRoot: String? = nil,
                                 policy: ErrorPolicy = .stop, checkImages: Bool = true) throws -> ImageTextDataset {
        let data = try DatasetFiles.read(path)
        let root = imageRoot ?? DatasetFiles.folder(of: path)
        var log = ProblemLog(policy)
        var samples: [ImageTextSample] = []
        for line in TextLines.split(data) where !line.isBlank {
            let value: JSONValue
            do {
                value = try JSONParser.parse(Array(line.bytes), firstLine: line.number)
            } catch let e as JSONSyntaxError {
                try log.report(DatasetError(file: path, line: line.number, problem: .malformedJSON(e.description)))
                continue
            }
            guard let object = value.object else {
                try log.report(DatasetError(file: path, line: line.number,
                                            problem: .malformedJSON("the line holds \(value.typeName), not an object")))
                continue
            }
            let record = ManifestRecord(file: path, line: line.number, fields: fields, root: root, checkImages: checkImages)
            if let s = try record.sample(json: object, log: &log) { samples.append(s) }
        }
        return ImageTextDataset(samples: samples, origin: path, skipped: log.problems)
    }

    /// Reads a CSV manifest (RFC 4180, header row). Columns: `image`, `short_captions` (several
    /// captions joined by `" || "`) and/or `short_caption`, `long_caption`, optional `key`; names
    /// configurable through `fields`, other columns ignored, empty cells mean "absent". A row with
    /// a different number of fields than the header is a problem.
    ///
    /// ```swift
    /// let ds = try ImageTextDataset.readCSV("data/train.csv", policy: .skip)
    /// ```
    public static func readCSV(_ path: String, fields: ManifestFields = ManifestFields(), imageRoot: String? = nil,
                               policy: ErrorPolicy = .stop, checkImages: Bool = true) throws -> ImageTextDataset {
        let data = try DatasetFiles.read(path)
        let root = imageRoot ?? DatasetFiles.folder(of: path)
        var log = ProblemLog(policy)
        let table = try CSVTable(path: path, data: data)
        guard let imageColumn = table.column(fields.image) else {
            throw DatasetError(file: path, line: table.headerLine, problem: .missingColumns([fields.image], found: table.header))
        }
        let captionColumns = fields.captionFields.map { table.column($0) }
        if captionColumns.allSatisfy({ $0 == nil }) {
            throw DatasetError(file: path, line: table.headerLine,
                               problem: .missingColumns(["one of " + fields.captionFields.joined(separator: " / ")], found: table.header))
        }
        let keyColumn = table.column(fields.key)
        var samples: [ImageTextSample] = []
        try table.forEachRow(log: &log) { row, log in
            func cell(_ c: Int?) -> String? {
                guard let c else { return nil }
                let v = row.fields[c].datasetTrimmed
                return v.isEmpty ? nil : v
            }
            var shorts: [String] = []
            if let joined = cell(captionColumns[0]) {
                shorts = joined.components(separatedBy: fields.separator)
                    .map { $0.datasetTrimmed }.filter { !$0.isEmpty }
            }
            if shorts.isEmpty, let one = cell(captionColumns[1]) { shorts = [one] }
            let record = ManifestRecord(file: path, line: row.line, fields: fields, root: root, checkImages: checkImages)
            if let s = try record.sample(key: cell(keyColumn), image: cell(imageColumn), shorts: shorts,
                                         long: cell(captionColumns[2]), log: &log) {
                samples.append(s)
            }
        }
        return ImageTextDataset(samples: samples, origin: path, skipped: log.problems)
    }
}

/// A parsed CSV file: the header, then the data rows and syntax errors in file order.
struct CSVTable {
    let path: String
    let header: [String]
    let headerLine: Int
    private let rows: [CSVRecord]
    private let errors: [CSVSyntaxError]

    init(path: String, data: Data) throws {
        self.path = path
        let parsed = CSVParser.parse(data)
        guard let first = parsed.records.first else {
            if let e = parsed.errors.first {
                throw DatasetError(file: path, line: e.line, problem: .malformedCSV(e.message))
            }
            throw DatasetError(file: path, problem: .noSamples("the file is empty; a CSV file needs a header row"))
        }
        if let e = parsed.errors.first, e.line < first.line {
            throw DatasetError(file: path, line: e.line, problem: .malformedCSV("in the header: " + e.message))
        }
        header = first.fields.map { $0.datasetTrimmed }
        headerLine = first.line
        rows = Array(parsed.records.dropFirst())
        errors = parsed.errors
    }

    func column(_ name: String) -> Int? { header.firstIndex(of: name) }

    /// Calls `body` for each data row with as many fields as the header, in file order; syntax
    /// errors and rows with another field count are reported to `log` at their place.
    func forEachRow(log: inout ProblemLog, _ body: (CSVRecord, inout ProblemLog) throws -> Void) throws {
        var e = 0
        for row in rows {
            while e < errors.count && errors[e].line < row.line {
                try log.report(DatasetError(file: path, line: errors[e].line, problem: .malformedCSV(errors[e].message)))
                e += 1
            }
            if row.fields.count != header.count {
                try log.report(DatasetError(file: path, line: row.line,
                                            problem: .wrongFieldCount(expected: header.count, found: row.fields.count)))
                continue
            }
            try body(row, &log)
        }
        while e < errors.count {
            try log.report(DatasetError(file: path, line: errors[e].line, problem: .malformedCSV(errors[e].message)))
            e += 1
        }
    }
}

/// Turns one manifest record into a sample, reporting what is missing.
struct ManifestRecord {
    let file: String
    let line: Int
    let fields: ManifestFields
    let root: String
    let checkImages: Bool

    func sample(json o: JSONObject, log: inout ProblemLog) throws -> ImageTextSample? {
        var shorts: [String] = []
        if let v = o[fields.shortCaptions] {
            switch v {
            case .array(let items):
                for item in items {
                    guard let s = item.string else {
                        try log.report(DatasetError(file: file, line: line, problem: .invalidField(
                            fields.shortCaptions, detail: "expected an array of strings, found an element that is \(item.typeName)")))
                        return nil
                    }
                    shorts.append(s)
                }
            case .string(let s): shorts = [s]
            case .null: break
            default:
                try log.report(DatasetError(file: file, line: line, problem: .invalidField(
                    fields.shortCaptions, detail: "expected an array of strings, found \(v.typeName)")))
                return nil
            }
        }
        shorts = shorts.map { $0.datasetTrimmed }.filter { !$0.isEmpty }
        if shorts.isEmpty, let v = o[fields.shortCaption] {
            switch v {
            case .string(let one):
                let t = one.datasetTrimmed
                if !t.isEmpty { shorts = [t] }
            case .null: break
            default:
                try log.report(DatasetError(file: file, line: line, problem: .invalidField(
                    fields.shortCaption, detail: "expected a string, found \(v.typeName)")))
                return nil
            }
        }
        return try finish(o, shorts: shorts, log: &log)
    }

    private func finish(_ o: JSONObject, shorts: [String], log: inout ProblemLog) throws -> ImageTextSample? {
        var long: String?
        if let v = o[fields.longCaption] {
            switch v {
            case .string(let s): long = s
            case .null: long = nil
            default:
                try log.report(DatasetError(file: file, line: line, problem: .invalidField(
                    fields.longCaption, detail: "expected a string, found \(v.typeName)")))
                return nil
            }
        }
        var image: String?
        if let v = o[fields.image] {
            guard let s = v.string else {
                try log.report(DatasetError(file: file, line: line, problem: .invalidField(
                    fields.image, detail: "expected a path string, found \(v.typeName)")))
                return nil
            }
            image = s
        }
        let key = o[fields.key]?.scalarText
        return try sample(key: key, image: image, shorts: shorts,
                          long: long?.datasetTrimmed, log: &log)
    }

    func sample(key: String?, image: String?, shorts: [String], long: String?, log: inout ProblemLog) throws -> ImageTextSample? {
        guard let image, !image.isEmpty else {
            try log.report(DatasetError(file: file, line: line, key: key, problem: .missingField(fields.image)))
            return nil
        }
        let long = (long?.isEmpty ?? true) ? nil : long
        if shorts.isEmpty && long == nil {
            try log.report(DatasetError(file: file, line: line, key: key ?? image, problem: .noCaption(fields: fields.captionFields)))
            return nil
        }
        let path = DatasetFiles.resolve(image, in: root)
        if checkImages && !DatasetFiles.isFile(path) {
            try log.report(DatasetError(file: file, line: line, key: key ?? image, problem: .missingImage(path: path)))
            return nil
        }
        return ImageTextSample(key: key ?? image, image: .file(path), shortCaptions: shorts, longCaption: long)
    }
}
