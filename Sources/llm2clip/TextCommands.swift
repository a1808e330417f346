import ArgumentParser
import Foundation
import Formats
import Models
import TensorKit
import Tokenizers

/// Loads `--model` with a message that says what went wrong and what to pass instead.
func loadTextModel(_ path: String) throws -> TextModel {
    do { return try TextModel.load(path: path) } catch {
        throw CommandFailure("cannot load --model \(path): \(error)")
    }
}

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the token ids and pieces of a text.",
        discussion: "--model takes a Hugging Face folder (tokenizer.json) or a GGUF file (tokenizer in its metadata).")

    @Option(help: "Model folder or GGUF file.") var model: String
    @Flag(help: "Do not add the tokenizer's special tokens (BOS, [CLS]/[SEP]).") var noSpecialTokens = false
    @Flag(help: "Print JSON.") var json = false
    @Argument(help: "Text to tokenise.") var text: String

    func run() throws {
        let tok: any TextTokenizer
        if model.lowercased().hasSuffix(".gguf") {
            tok = try TextModel.ggufTokenizer(GGUFFile(path: model))
        } else {
            do { tok = try Tokenizers.load(folder: model) } catch { throw CommandFailure("cannot load a tokenizer from \(model): \(error)") }
        }
        let (ids, pieces) = tok.encodeWithPieces(text, addSpecialTokens: !noSpecialTokens)
        if json {
            try printJSON(["ids": ids, "pieces": pieces, "count": ids.count])
        } else {
            print("\(ids.count) tokens")
            for (i, p) in zip(ids, pieces) { print(String(format: "%8d  ", i) + p.debugDescription) }
        }
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a prompt with a decoder LLM (greedy unless --temperature is set).")

    @Option(help: "Model folder or GGUF file of a Llama-family LLM.") var model: String
    @Option(help: "The prompt text.") var prompt: String
    @Option(help: "Most new tokens to produce.") var maxTokens = 32
    @Option(help: "Sampling temperature; 0 is greedy.") var temperature: Float = 0
    @Option(help: "Nucleus sampling: keep the most likely tokens up to this probability mass.") var topP: Float = 1
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @Flag(help: "Wrap the prompt as a user turn of the model's chat format (ChatML or Llama-3) and open the assistant turn.") var chat = false
    @Flag(help: "Print JSON at the end instead of streaming text.") var json = false

    func run() throws {
        guard case .decoder(let llm, let tok) = try loadTextModel(model) else {
            throw ValidationError("\(model) is a sentence encoder; generate needs a decoder LLM")
        }
        guard llm.hasLanguageModelHead else { throw ValidationError("\(model) has no language-model head (lm_head.weight), so it cannot generate") }
        var text = prompt
        if chat {
            switch EmbeddingTemplate.detect(tok).name {
            case "chatml": text = "<|im_start|>user\n\(prompt)<|im_end|>\n<|im_start|>assistant\n"
            case "llama3": text = "<|start_header_id|>user<|end_header_id|>\n\n\(prompt)<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            default: break
            }
        }
        let ids = tok.encode(text, addSpecialTokens: true)
        guard !ids.isEmpty else { throw ValidationError("the prompt has no tokens") }
        var stops = Set(llm.config.eosTokenIds)
        if let e = tok.eosTokenId { stops.insert(e) }
        for name in ["<|eot_id|>", "<|im_end|>", "<|end_of_text|>"] { if let i = tok.id(forToken: name) { stops.insert(i) } }
        var printed = ""
        var produced: [Int] = []
        let out = llm.generate(prompt: ids, maxTokens: maxTokens, sampler: TokenSampler(temperature: temperature, topP: topP, seed: seed),
                               stopIds: stops) { id in
            produced.append(id)
            guard !json, !stops.contains(id) else { return }
            // Decode the whole continuation so multi-byte characters print once complete.
            let full = tok.decode(produced.filter { !stops.contains($0) }, skipSpecialTokens: false)
            if full.hasPrefix(printed), !full.hasSuffix("\u{FFFD}") {
                FileHandle.standardOutput.write(Data(full.dropFirst(printed.count).utf8))
                printed = full
            }
        }
        let body = out.filter { !stops.contains($0) }
        let decoded = tok.decode(body, skipSpecialTokens: false)
        if json {
            try printJSON(["prompt_ids": ids, "ids": out, "text": decoded, "stopped": out.last.map { stops.contains($0) } ?? false])
        } else {
            if decoded.hasPrefix(printed) { print(decoded.dropFirst(printed.count), terminator: "") }
            print("")
        }
    }
}

struct EmbedText: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed-text",
        abstract: "Embed texts: LLM2Vec pooling for decoder LLMs, the model's own pooling for sentence encoders.",
        discussion: """
        Texts come from the arguments or from --file (one per line). Vectors go to --output as a \
        safetensors file (tensor "embeddings" [N, dim], metadata naming the model and recipe), or \
        to standard output (--json, or a plain listing).
        """)

    @Option(help: "Model folder or GGUF file.") var model: String
    @Option(help: "A text file with one text per line.") var file: String?
    @Option(help: "Instruction placed before each text (attended to, not pooled); decoder LLMs only.") var instruction: String?
    @Option(help: "Write the vectors to this .safetensors file.") var output: String?
    @Flag(help: "Print the vectors as JSON.") var json = false
    @Argument(help: "Texts to embed.") var texts: [String] = []

    func run() throws {
        var all = texts
        if let f = file {
            guard let data = FileManager.default.contents(atPath: f) else { throw ValidationError("cannot read --file \(f)") }
            all += String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
        }
        guard !all.isEmpty else { throw ValidationError("no texts: pass them as arguments or with --file") }
        let m = try loadTextModel(model)
        if instruction != nil, case .sentenceEncoder = m { throw ValidationError("--instruction applies to decoder LLMs only") }
        let bar = ProgressBar(total: all.count, label: "embed", unit: "texts")
        let showBar = all.count > 1 && (file != nil || all.count > 8)
        let vectors = try m.embed(all, instruction: instruction, progress: showBar ? { done, _ in bar.update(done) } : nil)
        if let out = output {
            try writeSafetensors(["embeddings": vectors], to: out,
                                 metadata: ["model": model, "recipe": m.recipe, "instruction": instruction ?? "", "count": "\(all.count)"])
            FileHandle.standardError.write(Data("wrote \(all.count) × \(m.dimension) vectors to \(out)\n".utf8))
        }
        let rows = (0..<all.count).map { i in Array(vectors.toArray()[(i * m.dimension)..<((i + 1) * m.dimension)]) }
        if json {
            try printJSON(["model": model, "recipe": m.recipe, "dimension": m.dimension, "texts": all, "vectors": rows.map { $0.map(Double.init) }])
        } else if output == nil {
            for (t, v) in zip(all, rows) {
                let head = v.prefix(6).map { String(format: "%.4f", $0) }.joined(separator: ", ")
                print("\(t.prefix(60).debugDescription): [\(head), …] (\(v.count) dims)")
            }
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's configuration, tensors, dtypes and sizes (GGUF, safetensors file or Hugging Face folder).")

    @Argument(help: "A .gguf file, a .safetensors file or a model folder.") var path: String
    @Flag(help: "Print JSON.") var json = false
    @Option(help: "List at most this many tensors in the text output (all in JSON).") var limit = 40

    func run() throws {
        var config: [String: Any] = [:]
        var tensors: [(String, String, [Int], Int)] = []
        var format = ""
        if path.lowercased().hasSuffix(".gguf") {
            let g = try GGUFFile(path: path)
            format = "GGUF v\(g.version)"
            for k in g.metadataKeys { config[k] = g.metadata[k]!.summary }
            for t in g.tensorInfos { tensors.append((t.name, t.type.name, t.shape, t.byteCount)) }
        } else {
            let src = try SafetensorsFolder(path: path)
            format = "safetensors (\(src.files.count) file\(src.files.count == 1 ? "" : "s"))"
            let cfg = (path as NSString).appendingPathComponent("config.json")
            if let data = FileManager.default.contents(atPath: cfg),
               let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                for (k, v) in obj {
                    let data = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
                    config[k] = data.map { String(decoding: $0, as: UTF8.self) } ?? "\(v)"
                }
            }
            for f in src.files { for (k, v) in f.metadata { config["__metadata__.\(k)"] = v } }
            for name in src.tensorNames {
                let (shape, dtype) = src.describe(name)!
                let width = dtype == "F32" || dtype == "I32" ? 4 : (dtype == "I64" || dtype == "F64" ? 8 : 2)
                tensors.append((name, dtype, shape, shape.reduce(1, *) * width))
            }
        }
        let kind = Inspect.kind(of: tensors.map(\.0), config: config)
        let params = tensors.reduce(0) { $0 + $1.2.reduce(1, *) }
        let bytes = tensors.reduce(0) { $0 + $1.3 }
        var byType: [String: Int] = [:]
        for t in tensors { byType[t.1, default: 0] += 1 }
        if json {
            try printJSON(["path": path, "format": format, "kind": kind, "config": config, "parameters": params, "bytes": bytes,
                           "tensors": tensors.map { ["name": $0.0, "dtype": $0.1, "shape": $0.2, "bytes": $0.3] as [String: Any] }])
            return
        }
        print("\(path): \(format), \(kind)")
        print("\(tensors.count) tensors, \(params) parameters (\(String(format: "%.1f", Double(params) / 1e6)) M), \(String(format: "%.1f", Double(bytes) / 1_048_576)) MiB")
        print("types: " + byType.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }.joined(separator: ", "))
        if !config.isEmpty {
            print("\nconfiguration:")
            for k in config.keys.sorted() { print("  \(k) = \(config[k]!)") }
        }
        print("\ntensors:")
        for t in tensors.prefix(limit) {
            print("  " + t.0.padding(toLength: max(44, t.0.count), withPad: " ", startingAt: 0) + " " + t.1.padding(toLength: 6, withPad: " ", startingAt: 0) + " \(t.2)")
        }
        if tensors.count > limit { print("  … \(tensors.count - limit) more (--limit N, or --json for all)") }
    }

    /// What kind of checkpoint the tensor names describe.
    static func kind(of names: [String], config: [String: Any]) -> String {
        func has(_ prefix: String) -> Bool { names.contains { $0.hasPrefix(prefix) } }
        if has("visual.blocks.") || has("text.text_adaptor.") {
            let tower = has("visual.blocks.") ? "EVA02 image tower" : (has("visual.vision_model.") ? "CLIP image tower" : "no image tower")
            return "LLM2CLIP model (\(tower)\(has("text.text_adaptor.") ? ", text adapter" : ""))"
        }
        if has("vision_model.") { return has("text_model.") ? "CLIP model (vision + text)" : "CLIP vision model" }
        if has("blk.") || has("model.layers.") || has("layers.0.self_attn.") { return "Llama-family decoder" }
        if has("encoder.layer.") || has("bert.encoder.") { return "BERT encoder" }
        return "unrecognised layout"
    }
}
