import Foundation

/// The field/column names of a caption-pair file.
///
/// ```swift
/// let ds = try CaptionPairDataset.readCSV("pairs.csv", fields: CaptionPairFields(short: "caption", long: "recaption"))
/// ```
public struct CaptionPairFields: Sendable, Equatable {
    public var short: String
    public var long: String
    /// Optional identifier column/field.
    public var key: String

    public init(short: String = "short_caption", long: String = "long_caption", key: String = "key") {
        self.short = short
        self.long = long
        self.key = key
    }
}

extension CaptionPairDataset {
    /// Reads stage-1 caption pairs, choosing the format by extension (`.csv` / `.csv.gz` as CSV,
    /// anything else as JSONL).
    ///
    /// ```swift
    /// let pairs = try CaptionPairDataset.read("pairs.jsonl", policy: .skip)
    /// ```
    public static func read(_ path: String, fields: CaptionPairFields = CaptionPairFields(),
                            policy: ErrorPolicy = .stop) throws -> CaptionPairDataset {
        var name = path.lowercased()
        if name.hasSuffix(".gz") { name.removeLast(3) }
        return name.hasSuffix(".csv") ? try readCSV(path, fields: fields, policy: policy)
                                      : try readJSONL(path, fields: fields, policy: policy)
    }

    /// Reads a CSV file with a header row holding `short_caption` and `long_caption` (RFC-4180
    /// quoting; other columns ignored). Rows with a missing or empty caption are problems.
    ///
    /// ```swift
    /// let pairs = try CaptionPairDataset.readCSV("pairs.csv")
    /// print(pairs[0].short, "→", pairs[0].long)
    /// ```
    public static func readCSV(_ path: String, fields: CaptionPairFields = CaptionPairFields(),
                               policy: ErrorPolicy = .stop) throws -> CaptionPairDataset {
        let data = try DatasetFiles.read(path)
        var log = ProblemLog(policy)
        let table = try CSVTable(path: path, data: data)
        let missing = [fields.short, fields.long].filter { table.column($0) == nil }
        if !missing.isEmpty {
            throw DatasetError(file: path, line: table.headerLine, problem: .missingColumns(missing, found: table.header))
        }
        let sc = table.column(fields.short)!, lc = table.column(fields.long)!, kc = table.column(fields.key)
        var pairs: [CaptionPair] = []
        try table.forEachRow(log: &log) { row, log in
            let short = row.fields[sc].datasetTrimmed
            let long = row.fields[lc].datasetTrimmed
            let key = kc.map { row.fields[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            if let p = try makePair(short: short, long: long, key: key, file: path, line: row.line, fields: fields, log: &log) {
                pairs.append(p)
            }
        }
        return CaptionPairDataset(pairs: pairs, origin: path, skipped: log.problems)
    }

    /// Reads a JSON-lines file of `{"short_caption": "..", "long_caption": ".."}` objects (blank
    /// lines ignored, gzip allowed).
    ///
    /// ```swift
    /// let pairs = try CaptionPairDataset.readJSONL("pairs.jsonl", policy: .skip)
    /// ```
    public static func readJSONL(_ path: String, fields: CaptionPairFields = CaptionPairFields(),
                                 policy: ErrorPolicy = .stop) throws -> CaptionPairDataset {
        let data = try DatasetFiles.read(path)
        var log = ProblemLog(policy)
        var pairs: [CaptionPair] = []
        lines: for line in TextLines.split(data) where !line.isBlank {
            let value: JSONValue
            do {
                value = try JSONParser.parse(Array(line.bytes), firstLine: line.number)
            } catch let e as JSONSyntaxError {
                try log.report(DatasetError(file: path, line: line.number, problem: .malformedJSON(e.description)))
                continue
            }
            guard let o = value.object else {
                try log.report(DatasetError(file: path, line: line.number,
                                            problem: .malformedJSON("the line holds \(value.typeName), not an object")))
                continue
            }
            var texts: [String] = []
            for name in [fields.short, fields.long] {
                switch o[name] {
                case .string(let s)?: texts.append(s.datasetTrimmed)
                case nil, .null?: texts.append("")
                case let v?:
                    try log.report(DatasetError(file: path, line: line.number,
                                                problem: .invalidField(name, detail: "expected a string, found \(v.typeName)")))
                    continue lines
                }
            }
            if let p = try makePair(short: texts[0], long: texts[1], key: o[fields.key]?.scalarText, file: path,
                                    line: line.number, fields: fields, log: &log) {
                pairs.append(p)
            }
        }
        return CaptionPairDataset(pairs: pairs, origin: path, skipped: log.problems)
    }

    private static func makePair(short: String, long: String, key: String?, file: String, line: Int,
                                 fields: CaptionPairFields, log: inout ProblemLog) throws -> CaptionPair? {
        for (name, text) in [(fields.short, short), (fields.long, long)] where text.isEmpty {
            try log.report(DatasetError(file: file, line: line, key: key, problem: .missingField(name)))
            return nil
        }
        return CaptionPair(short: short, long: long, key: key)
    }
}
