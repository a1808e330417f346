import ArgumentParser
import Datasets
import Evaluation
import Foundation
import Images
import Models
import TensorKit

struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate: image↔text retrieval, caption-retrieval accuracy of a text encoder, zero-shot classification.",
        subcommands: [EvalRetrieval.self, EvalCRA.self, EvalZeroShot.self])
}

/// Embeds images of `sources` with `embed` in batches, with a progress bar.
func embedImages(_ sources: [ImageSource], transform: CLIPTransform, batch: Int = 32, label: String,
                 embed: (Tensor) -> Tensor) throws -> Tensor {
    let bar = ProgressBar(total: sources.count, label: label, unit: "images")
    var parts: [Tensor] = []
    for start in stride(from: 0, to: sources.count, by: batch) {
        let chunk = Array(sources[start..<min(sources.count, start + batch)])
        let s = transform.size
        let x = Tensor.empty([chunk.count, 3, s, s])
        for (i, src) in chunk.enumerated() {
            let t = transform.eval(try src.load())
            withExtendedLifetime(t) { (x.fptr + i * 3 * s * s).update(from: t.fptr, count: 3 * s * s) }
        }
        parts.append(withNoGrad { embed(x) })
        bar.update(start + chunk.count)
    }
    return concat(parts, axis: 0)
}

/// Text features for `(key, text)` items: from a feature store when given, else computed.
func textFeatures(_ items: [(key: String, text: String)], store: String?, textModel: String?, instruction: String?) throws -> Tensor {
    if let dir = store {
        do { return try FeatureStore(directory: dir).vectors(for: items.map(\.key)) } catch { throw CommandFailure("\(error)") }
    }
    guard let path = textModel else { throw ValidationError("give --features DIR (from cache-text) or --text-model PATH") }
    let m = try loadTextModel(path)
    let bar = ProgressBar(total: items.count, label: "embed-text", unit: "captions")
    return try m.embed(items.map(\.text), instruction: instruction) { d, _ in bar.update(d) }
}

func loadLLM2CLIP(_ path: String) throws -> LLM2CLIPModel {
    do { return try LLM2CLIPModel.load(path: path) } catch { throw CommandFailure("cannot load --model \(path): \(error)") }
}

func fmt(_ x: Double) -> String { String(format: "%.1f", 100 * x) }

struct EvalRetrieval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval",
        abstract: "Image↔text retrieval R@1/5/10 of an LLM2CLIP model on a data set (short captions: several per image; long: one).")

    @Option(help: "LLM2CLIP safetensors file.") var model: String
    @Option(help: "Image–caption data set (manifest, shards, scenes folder, Urban1k folder).") var data: String
    @Option(help: "Feature store made by cache-text for this data set.") var features: String?
    @Option(help: "Text encoder to embed the captions now (instead of --features).") var textModel: String?
    @Option(help: "short or long captions.") var captions = "short"
    @Option(help: "Use only the first N images.") var limit: Int?
    @Flag(help: "Skip bad rows and missing images (counted and reported) instead of stopping at the first.") var skipBad = false
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        guard captions == "short" || captions == "long" else { throw ValidationError("--captions is short or long") }
        var ds: ImageTextDataset
        do { ds = try CaptionData.read(data, policy: skipBad ? .skip : .stop).imageText(data) } catch let e as DatasetError {
            throw CommandFailure("\(e) (pass --skip-bad to skip and count such rows)")
        }
        for e in ds.skipped.prefix(5) { FileHandle.standardError.write(Data("skipped: \(e)\n".utf8)) }
        if ds.skipped.count > 5 { FileHandle.standardError.write(Data("skipped: … \(ds.skipped.count - 5) more\n".utf8)) }
        if let n = limit { ds.samples = Array(ds.samples.prefix(n)) }
        guard !ds.samples.isEmpty else { throw CommandFailure("\(data): no samples") }
        let m = try loadLLM2CLIP(model)
        var items: [(key: String, text: String)] = [], owner: [Int] = []
        for (i, s) in ds.samples.enumerated() {
            if captions == "long" {
                guard let l = s.longCaption else { throw CommandFailure("\(data): sample \(s.key) has no long caption") }
                items.append((CaptionKey.long(s.key), l)); owner.append(i)
            } else {
                for (j, c) in s.shortCaptions.enumerated() { items.append((CaptionKey.short(s.key, j), c)); owner.append(i) }
            }
        }
        let feats = try textFeatures(items, store: features, textModel: textModel, instruction: nil)
        let texts = withNoGrad { m.encodeText(feats) }
        let images = try embedImages(ds.samples.map(\.image), transform: CLIPTransform(size: m.visual.imageSize), label: "images") { m.encodeImage($0) }
        let r = try Retrieval.evaluate(images: images, texts: texts, textToImage: owner)
        if json {
            let data = try JSONEncoder().encode(r)
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("retrieval on \(ds.samples.count) images, \(items.count) \(captions) captions")
            print("| direction | R@1 | R@5 | R@10 |\n|---|---:|---:|---:|")
            for (name, d) in [("image→text", RetrievalDirection.imageToText), ("text→image", .textToImage)] {
                print("| \(name) | " + [1, 5, 10].map { fmt(r.recall(d, at: $0) ?? 0) }.joined(separator: " | ") + " |")
            }
        }
    }
}

struct EvalCRA: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cra",
        abstract: "Caption-retrieval accuracy of a text encoder on (short, long) caption pairs (the stage-1 metric).")

    @Option(help: "Text encoder (GGUF or Hugging Face folder).") var model: String?
    @Option(help: "Caption pairs, or an image–caption data set (first short caption ↔ long caption).") var data: String
    @Option(help: "Feature store made by cache-text for this data set (instead of --model).") var features: String?
    @Option(help: "Use only the first N pairs.") var limit: Int?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let all = try CaptionData.read(data, checkImages: false).texts
        var shorts: [(key: String, text: String)] = [], longs: [(key: String, text: String)] = []
        var longByKey: [String: (key: String, text: String)] = [:]
        for item in all where item.key.hasSuffix("#long") { longByKey[String(item.key.dropLast(5))] = item }
        for item in all where item.key.hasSuffix("#s0") {
            let sample = String(item.key.dropLast(3))
            if let l = longByKey[sample] { shorts.append(item); longs.append(l) }
        }
        if let n = limit { shorts = Array(shorts.prefix(n)); longs = Array(longs.prefix(n)) }
        guard shorts.count >= 2 else { throw CommandFailure("\(data): fewer than 2 (short, long) pairs") }
        let both = try textFeatures(shorts + longs, store: features, textModel: model, instruction: nil)
        let n = shorts.count
        let r = try CaptionRetrieval.accuracy(short: both.slice(axis: 0, 0, n), long: both.slice(axis: 0, n, 2 * n))
        if json {
            print(String(decoding: try JSONEncoder().encode(r), as: UTF8.self))
        } else {
            print("caption-retrieval accuracy on \(n) pairs: short→long \(fmt(r.shortToLong))%, long→short \(fmt(r.longToShort))%, mean \(fmt(r.mean))%")
        }
    }
}

struct EvalZeroShot: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeroshot",
        abstract: "Zero-shot classification (top-1/top-5) of an LLM2CLIP model on a class-folder data set or Fashion-MNIST.")

    @Option(help: "LLM2CLIP safetensors file.") var model: String
    @Option(help: "Text encoder whose features the adapter expects (GGUF or folder).") var textModel: String
    @Option(help: "A folder of class folders, or 'fashion-mnist' (Debian's dataset-fashion-mnist test split).") var data: String
    @Option(help: "Prompt templates: openai (80 ImageNet templates) or simple ('a photo of a {}.').") var templates = "simple"
    @Option(help: "Use only the first N images.") var limit: Int?
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        var ds = data == "fashion-mnist" ? try LabeledImageDataset.readFashionMNIST() : try LabeledImageDataset.readImageFolder(data)
        if let n = limit { ds.images = Array(ds.images.prefix(n)) }
        guard !ds.images.isEmpty else { throw CommandFailure("\(data): no images") }
        let m = try loadLLM2CLIP(model)
        let tm = try loadTextModel(textModel)
        let set = templates == "openai" ? PromptTemplates.openAIImageNet : PromptTemplates.simple
        let images = try embedImages(ds.images.map(\.image), transform: CLIPTransform(size: m.visual.imageSize), label: "images") { m.encodeImage($0) }
        let r = try ZeroShot.evaluate(images: images, labels: ds.images.map(\.label), classNames: ds.classNames, templates: set) { texts in
            withNoGrad { m.encodeText(try! tm.embed(texts)) }
        }
        if json {
            print(String(decoding: try JSONEncoder().encode(r), as: UTF8.self))
        } else {
            print("zero-shot on \(ds.images.count) images, \(ds.classNames.count) classes, \(set.count) templates: top-1 \(fmt(r.top1 ?? 0))%, top-5 \(fmt(r.top5 ?? 0))%")
        }
    }
}
