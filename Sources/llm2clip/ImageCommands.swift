import ArgumentParser
import Foundation
import Formats
import Images
import Models
import TensorKit

/// An image model as `embed-image` meets it: a Hugging Face CLIP folder or an LLM2CLIP checkpoint.
enum ImageModel {
    case clip(CLIPModel, CLIPTransform)
    case llm2clip(LLM2CLIPModel, CLIPTransform)

    static func load(_ path: String) throws -> ImageModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ValidationError("--model \(path): no such file or folder")
        }
        if isDir.boolValue {
            let model = try CLIPModel.load(path: path)
            return .clip(model, try transform(folder: path, fallbackSize: model.vision.config.imageSize))
        }
        let model = try LLM2CLIPModel.load(path: path)
        return .llm2clip(model, CLIPTransform(size: model.visual.imageSize))
    }

    /// The eval transform described by a `preprocessor_config.json` (CLIP's image processor).
    static func transform(folder: String, fallbackSize: Int) throws -> CLIPTransform {
        let path = (folder as NSString).appendingPathComponent("preprocessor_config.json")
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            FileHandle.standardError.write(Data("note: \(path) not found; using the OpenAI CLIP transform at \(fallbackSize) px\n".utf8))
            return CLIPTransform(size: fallbackSize)
        }
        func side(_ v: Any?) -> Int? {
            if let n = v as? Int { return n }
            if let d = v as? [String: Any] { return (d["shortest_edge"] ?? d["height"]) as? Int }
            return nil
        }
        let resize = side(json["size"]) ?? fallbackSize
        let crop = side(json["crop_size"]) ?? resize
        guard resize == crop else {
            throw ValidationError("\(path): resize \(resize) ≠ crop \(crop) is not supported (CLIP uses one size for both)")
        }
        var t = CLIPTransform(size: crop)
        if let m = json["image_mean"] as? [Double], m.count == 3 { t.mean = (Float(m[0]), Float(m[1]), Float(m[2])) }
        if let s = json["image_std"] as? [Double], s.count == 3 { t.std = (Float(s[0]), Float(s[1]), Float(s[2])) }
        return t
    }

    var transform: CLIPTransform {
        switch self {
        case .clip(_, let t), .llm2clip(_, let t): return t
        }
    }

    func embed(_ pixels: Tensor) -> Tensor {
        withNoGrad {
            switch self {
            case .clip(let m, _): return l2Normalize(m.imageEmbeddings(pixels), axis: -1)
            case .llm2clip(let m, _): return m.encodeImage(pixels)
            }
        }
    }
}

/// Image files named on the command line; folders expand to the JPEG and PNG files inside.
func expandImagePaths(_ items: [String]) throws -> [String] {
    var out: [String] = []
    for item in items {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: item, isDirectory: &isDir) else {
            throw ValidationError("\(item): no such file or folder")
        }
        if isDir.boolValue {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: item)) ?? []
            out += names.filter { ["jpg", "jpeg", "png"].contains(($0 as NSString).pathExtension.lowercased()) }
                .sorted().map { (item as NSString).appendingPathComponent($0) }
        } else {
            out.append(item)
        }
    }
    return out
}

struct EmbedImage: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-image",
        abstract: "Embed images with a CLIP or LLM2CLIP image tower (unit-length vectors).",
        discussion: """
        --model takes a Hugging Face CLIP folder (config.json, model.safetensors, \
        preprocessor_config.json) or an LLM2CLIP safetensors file. Images are JPEG or PNG files or \
        folders of them. Vectors go to --output (safetensors: "embeddings" [N, dim], the paths in \
        the metadata) or to standard output (--json, or a short listing).
        """)

    @Option(help: "CLIP folder or LLM2CLIP safetensors file.") var model: String
    @Option(help: "Write the vectors to this .safetensors file.") var output: String?
    @Option(help: "Images per forward batch.") var batch = 16
    @Flag(help: "Skip images that cannot be decoded (reported on standard error) instead of stopping.") var skipBad = false
    @Flag(help: "Print the vectors as JSON.") var json = false
    @Argument(help: "Image files or folders.") var images: [String]

    func run() throws {
        let paths = try expandImagePaths(images)
        guard !paths.isEmpty else { throw ValidationError("no JPEG or PNG images found in \(images)") }
        let m: ImageModel
        do { m = try ImageModel.load(model) } catch let e as ValidationError { throw e } catch {
            throw CommandFailure("cannot load --model \(model): \(error)")
        }
        let batcher = ImageBatcher(transform: m.transform)
        let bar = ProgressBar(total: paths.count, label: "embed-image", unit: "images")
        var vectors: [[Float]] = []
        var kept: [String] = []
        var failed = 0
        for start in stride(from: 0, to: paths.count, by: max(batch, 1)) {
            let chunk = Array(paths[start..<min(paths.count, start + max(batch, 1))])
            let result = batcher.load(chunk)
            if let first = result.failures.first, !skipBad {
                throw CommandFailure("\(first.error) (pass --skip-bad to continue past unreadable images)")
            }
            let bad = Set(result.failures.map(\.index))
            for f in result.failures { FileHandle.standardError.write(Data("skipped: \(f.error)\n".utf8)) }
            failed += bad.count
            let e = m.embed(result.tensor)
            let d = e.shape[1], a = e.toArray()
            for i in 0..<chunk.count where !bad.contains(i) {
                vectors.append(Array(a[(i * d)..<((i + 1) * d)]))
                kept.append(chunk[i])
            }
            bar.update(start + chunk.count)
        }
        guard let dim = vectors.first?.count else { throw CommandFailure("no image could be read") }
        if let out = output {
            let t = Tensor(vectors.flatMap { $0 }, shape: [vectors.count, dim])
            let pathsJSON = String(decoding: try JSONSerialization.data(withJSONObject: kept), as: UTF8.self)
            try writeSafetensors(["embeddings": t], to: out, metadata: ["model": model, "paths": pathsJSON])
            FileHandle.standardError.write(Data("wrote \(vectors.count) × \(dim) vectors to \(out)\(failed > 0 ? " (\(failed) skipped)" : "")\n".utf8))
        }
        if json {
            try printJSON(["model": model, "dimension": dim, "paths": kept, "vectors": vectors.map { $0.map(Double.init) }])
        } else if output == nil {
            for (p, v) in zip(kept, vectors) {
                print("\(p): [\(v.prefix(6).map { String(format: "%.4f", $0) }.joined(separator: ", ")), …] (\(dim) dims)")
            }
        }
    }
}
