import ArgumentParser
import Datasets
import Formats
import Foundation
import Models

struct CacheText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache-text",
        abstract: "Stage 1.5: embed every caption of a data set once with a frozen text encoder and store the vectors.",
        discussion: """
        --data is a manifest (.jsonl/.csv), a caption-pair file, web-dataset tar shards, or a folder \
        with one of them (e.g. the output of `llm2clip scenes`). The store (--out) holds sharded \
        safetensors files and store.json naming the encoder (file hash, pooling, template, max \
        length). An interrupted run resumes where it stopped; a store made by another encoder or \
        recipe is refused. Feature keys: <sample>#s<i> (short captions), <sample>#long.
        """)

    @Option(help: "Text encoder: GGUF file or Hugging Face folder (decoder LLM or sentence encoder).") var model: String
    @Option(help: "The data set whose captions are embedded.") var data: String
    @Option(help: "Output folder of the feature store.") var out: String
    @Option(help: "Instruction placed before each caption (decoder LLMs).") var instruction: String?
    @Option(help: "Captions per model batch.") var batch = 32
    @Option(help: "Vectors per shard file.") var shardSize = 4096

    func run() throws {
        let source = try CaptionData.read(data, checkImages: false)
        let texts = source.texts, kind = source.kind
        guard !texts.isEmpty else { throw CommandFailure("\(data): the data set has no captions") }
        var seen = Set<String>()
        let unique = texts.filter { seen.insert($0.key).inserted }
        let m = try loadTextModel(model)
        let template: String
        switch m {
        case .decoder(_, let t): template = EmbeddingTemplate.detect(t).name
        case .sentenceEncoder: template = "none"
        }
        let identity = FeatureEncoderIdentity(
            model: (model as NSString).lastPathComponent, modelHash: try FeatureEncoderIdentity.fingerprint(path: model),
            pooling: m.recipe, template: template, maxLength: 512, dimension: m.dimension, instruction: instruction)
        let writer: FeatureStoreWriter
        do { writer = try FeatureStoreWriter(directory: out, identity: identity, shardSize: shardSize, expectedCount: unique.count) } catch {
            throw CommandFailure("\(error)")
        }
        let todo = unique.filter { !writer.contains($0.key) }
        FileHandle.standardError.write(Data("cache-text: \(unique.count) captions from \(kind); \(unique.count - todo.count) already stored, \(todo.count) to embed\n".utf8))
        let bar = ProgressBar(total: todo.count, label: "cache-text", unit: "captions")
        let chunk = max(batch, 1) * 8
        var done = 0
        for start in stride(from: 0, to: todo.count, by: chunk) {
            let part = Array(todo[start..<min(todo.count, start + chunk)])
            let vectors = try m.embed(part.map(\.text), instruction: instruction) { d, _ in bar.update(done + d) }
            try writer.append(keys: part.map(\.key), vectors: vectors)
            done += part.count
            bar.update(done)
        }
        try writer.finish()
        FileHandle.standardError.write(Data("cache-text: \(writer.storedCount) vectors of dimension \(identity.dimension) in \(out)\n".utf8))
    }
}
