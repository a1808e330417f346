import Foundation

/// Which fields of a web-dataset sample's `.json` hold its captions.
///
/// ```swift
/// let f = WebDatasetFields(shortCaption: ["caption"], longCaption: "recaption")
/// let ds = try ImageTextDataset.readWebDataset(shards: ["00000.tar"], fields: f)
/// ```
public struct WebDatasetFields: Sendable, Equatable {
    /// JSON fields tried in order for the short caption(s); each may be a string or an array of
    /// strings. The first present, non-empty one wins.
    public var shortCaption: [String]
    /// JSON field of the long caption.
    public var longCaption: String
    /// Use the `.txt` member as the short caption when no JSON field gives one.
    public var textFallback: Bool

    public init(shortCaption: [String] = ["short_caption", "short_captions"], longCaption: String = "long_caption",
                textFallback: Bool = true) {
        self.shortCaption = shortCaption
        self.longCaption = longCaption
        self.textFallback = textFallback
    }
}

extension ImageTextDataset {
    /// Image extensions a web-dataset sample's image may have.
    static let webDatasetImageExtensions: Set<String> = ["jpg", "jpeg", "png", "webp"]

    /// Reads web-dataset tar shards as img2dataset writes them: members `key.jpg` (or `.jpeg`,
    /// `.png`), `key.txt` and `key.json` per sample, where the key is the member name up to the
    /// first dot of its file name (folders inside the tar are part of the key). Images stay in the
    /// memory-mapped shard and decode from bytes; their name is `shard.tar:key.jpg`.
    ///
    /// Captions: the short one(s) from the first of `fields.shortCaption` found in the `.json`,
    /// else the `.txt`; the long one from `fields.longCaption`. A sample without an image or
    /// without any caption, or with a malformed `.json`, is a problem (file = shard, key, byte
    /// offset of the member); a damaged shard is one problem and the rest of it is skipped.
    ///
    /// ```swift
    /// let shards = (0..<4).map { String(format: "data/%05d.tar", $0) }
    /// let ds = try ImageTextDataset.readWebDataset(shards: shards, policy: .skip)
    /// print(ds[0].imagePath)        // "data/00000.tar:000000000.jpg"
    /// ```
    public static func readWebDataset(shards: [String], fields: WebDatasetFields = WebDatasetFields(),
                                      policy: ErrorPolicy = .stop) throws -> ImageTextDataset {
        var log = ProblemLog(policy)
        var samples: [ImageTextSample] = []
        for shard in shards {
            let archive: TarArchive
            do {
                archive = try TarArchive(path: shard)
            } catch let e as DatasetError {
                try log.report(e)
                continue
            }
            try readShard(archive, fields: fields, log: &log, into: &samples)
        }
        return ImageTextDataset(samples: samples, origin: shards.count == 1 ? shards[0] : shards.joined(separator: ", "),
                                skipped: log.problems)
    }

    /// The web-dataset key and extension of a member name: `a/b/000001.seg.jpg` → (`a/b/000001`, `seg.jpg`).
    static func webDatasetKey(_ name: String) -> (key: String, ext: String)? {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: "."), dot > slash else { return nil }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]).lowercased())
    }

    private static func readShard(_ archive: TarArchive, fields: WebDatasetFields, log: inout ProblemLog,
                                  into samples: inout [ImageTextSample]) throws {
        struct Group {
            var key: String
            var offset: Int
            var image: TarEntry?
            var text: TarEntry?
            var json: TarEntry?
        }
        var order: [String] = []
        var groups: [String: Group] = [:]
        for e in archive.entries where e.kind == .file {
            guard let (key, ext) = webDatasetKey(e.name) else { continue }
            var g = groups[key] ?? Group(key: key, offset: e.headerOffset)
            if groups[key] == nil { order.append(key) }
            if webDatasetImageExtensions.contains(ext) {
                if g.image == nil { g.image = e }
            } else if ext == "txt" {
                g.text = e
            } else if ext == "json" {
                g.json = e
            }
            groups[key] = g
        }
        let shard = archive.path
        for key in order {
            let g = groups[key]!
            guard let image = g.image else {
                try log.report(DatasetError(file: shard, offset: g.offset, key: key,
                                            problem: .incompleteSample("no image member (\(key).jpg, .jpeg or .png)")))
                continue
            }
            var shorts: [String] = []
            var long: String?
            if let j = g.json {
                let value: JSONValue
                do {
                    value = try JSONParser.parse(archive.contents(of: j))
                } catch let e as JSONSyntaxError {
                    try log.report(DatasetError(file: shard + ":" + j.name, line: e.line, offset: j.dataOffset, key: key,
                                                problem: .malformedJSON(e.description)))
                    continue
                }
                guard let o = value.object else {
                    try log.report(DatasetError(file: shard + ":" + j.name, offset: j.dataOffset, key: key,
                                                problem: .malformedJSON("holds \(value.typeName), not an object")))
                    continue
                }
                for name in fields.shortCaption {
                    switch o[name] {
                    case .string(let s)?: shorts = [s]
                    case .array(let items)?: shorts = items.compactMap(\.string)
                    default: break
                    }
                    shorts = shorts.map { $0.datasetTrimmed }.filter { !$0.isEmpty }
                    if !shorts.isEmpty { break }
                }
                if case .string(let s)? = o[fields.longCaption] {
                    let t = s.datasetTrimmed
                    if !t.isEmpty { long = t }
                }
            }
            if shorts.isEmpty && fields.textFallback, let t = g.text {
                let text = String(decoding: archive.contents(of: t), as: UTF8.self).datasetTrimmed
                if !text.isEmpty { shorts = [text] }
            }
            if shorts.isEmpty && long == nil {
                var tried = fields.shortCaption + [fields.longCaption]
                if fields.textFallback { tried.append("\(key).txt") }
                try log.report(DatasetError(file: shard, offset: g.offset, key: key, problem: .noCaption(fields: tried)))
                continue
            }
            samples.append(ImageTextSample(key: key,
                                           image: .encoded(name: shard + ":" + image.name, bytes: archive.contents(of: image)),
                                           shortCaptions: shorts, longCaption: long))
        }
    }
}
