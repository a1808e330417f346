import ArgumentParser
import Datasets
import Foundation

/// What a `--data`/`--pairs` path on the command line holds, decided once for every command.
enum CaptionData {
    case imageText(ImageTextDataset, kind: String)
    case pairs(CaptionPairDataset)

    /// Reads a manifest (.jsonl/.csv), web-dataset tar shards, an Urban1k folder, a caption-pair
    /// file, or a folder holding one of them (e.g. `llm2clip scenes` output). `checkImages`
    /// verifies that image files exist (text-only commands skip it).
    static func read(_ path: String, checkImages: Bool = true, policy: ErrorPolicy = .stop) throws -> CaptionData {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ValidationError("\(path): no such file or folder")
        }
        if isDir.boolValue {
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
            func child(_ n: String) -> String { (path as NSString).appendingPathComponent(n) }
            for m in ["manifest.jsonl", "manifest.csv"] where names.contains(m) {
                return .imageText(try ImageTextDataset.readManifest(child(m), policy: policy, checkImages: checkImages), kind: "manifest")
            }
            let tars = names.filter { $0.hasSuffix(".tar") }.map(child)
            if !tars.isEmpty {
                return .imageText(try ImageTextDataset.readWebDataset(shards: tars, policy: policy), kind: "web-dataset (\(tars.count) shards)")
            }
            if names.contains("image") && names.contains("caption") {
                return .imageText(try ImageTextDataset.readUrban1k(path, policy: policy), kind: "Urban1k")
            }
            if names.contains("pairs.csv") { return .pairs(try CaptionPairDataset.read(child("pairs.csv"), policy: policy)) }
            throw ValidationError("\(path): no manifest.jsonl, manifest.csv, *.tar, Urban1k layout or pairs.csv inside")
        }
        if path.hasSuffix(".tar") { return .imageText(try ImageTextDataset.readWebDataset(shards: [path], policy: policy), kind: "web-dataset") }
        // A caption-pair file has short/long fields and no image field.
        let firstLine = ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
        if !firstLine.contains("image") && firstLine.contains("short_caption") {
            return .pairs(try CaptionPairDataset.read(path, policy: policy))
        }
        return .imageText(try ImageTextDataset.readManifest(path, policy: policy, checkImages: checkImages), kind: "manifest")
    }

    /// Every (feature key, caption) of the data.
    var texts: [(key: String, text: String)] {
        switch self {
        case .imageText(let d, _): return CaptionKey.texts(of: d)
        case .pairs(let p): return CaptionKey.texts(of: p)
        }
    }

    var kind: String {
        switch self {
        case .imageText(_, let k): return k
        case .pairs: return "caption pairs"
        }
    }

    /// (short, long) pairs: each sample's first short caption with its long caption.
    var pairs: CaptionPairDataset {
        switch self {
        case .imageText(let d, _): return d.captionPairs()
        case .pairs(let p): return p
        }
    }

    /// The image–caption data set, or an error for a caption-pair file.
    func imageText(_ path: String) throws -> ImageTextDataset {
        guard case .imageText(let d, _) = self else { throw ValidationError("\(path) holds caption pairs, not images with captions") }
        return d
    }
}
