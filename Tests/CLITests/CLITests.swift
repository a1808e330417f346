import Foundation
import Testing
import Models
import TensorKit

/// The `llm2clip` executable, built next to the test bundle by `swift build --build-tests`.
private let binary: String = {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    var candidates = [dir.appendingPathComponent("llm2clip").path]
    // When the test bundle is a directory (…/X.xctest/…/binary), look a few levels up.
    var d = dir
    for _ in 0..<4 { d = d.deletingLastPathComponent(); candidates.append(d.appendingPathComponent("llm2clip").path) }
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
}()

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
private let smol = root.appendingPathComponent(".cache/assets/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf").path

private struct Run {
    let status: Int32
    let stdout: String
    let stderr: String
    var json: [String: Any] {
        let line = stdout.split(separator: "\n").last.map(String.init) ?? ""
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]) ?? [:]
    }
}

private func run(_ args: [String]) throws -> Run {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binary)
    p.arguments = args
    p.currentDirectoryURL = root
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
}

/// End-to-end runs of the command line on the real assets (installed by scripts/assets.sh).
@Suite(.serialized) struct CLITests {
    @Test func binaryIsBuilt() {
        #expect(FileManager.default.isExecutableFile(atPath: binary), "\(binary) missing: build with `swift build --build-tests`")
    }

    @Test func tokenizeAndGenerateWithSmolLM2() throws {
        let t = try run(["tokenize", "--model", smol, "--json", "The capital of France is"])
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.json["ids"] as? [Int] == [504, 3575, 282, 4649, 314])
        let g = try run(["generate", "--model", smol, "--prompt", "The capital of France is", "--max-tokens", "8", "--json"])
        #expect(g.status == 0, "\(g.stderr)")
        #expect(g.json["text"] as? String == " Paris.\n\nThe answer is:")
    }

    @Test func embedTextWritesSafetensors() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("cli-embed-\(getpid()).safetensors").path
        let r = try run(["embed-text", "--model", root.appendingPathComponent(".cache/assets/minilm").path, "--output", out,
                         "A man is eating food.", "A cat sleeps."])
        #expect(r.status == 0, "\(r.stderr)")
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        let headerLen = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLen))) as! [String: Any]
        #expect((header["embeddings"] as? [String: Any])?["shape"] as? [Int] == [2, 384])
    }

    @Test func inspectNamesTheLayout() throws {
        let r = try run(["inspect", "--json", root.appendingPathComponent("Tests/Goldens/llm/tiny-llama").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.json["kind"] as? String == "Llama-family decoder")
        #expect((r.json["tensors"] as? [Any])?.count == 20)
        let v = try run(["inspect", "--json", root.appendingPathComponent("Tests/Goldens/vision/eva02-tiny.safetensors").path])
        #expect((v.json["kind"] as? String)?.hasPrefix("LLM2CLIP model (EVA02 image tower") == true)
    }

    @Test func badModelPathFailsWithItsName() throws {
        let r = try run(["embed-text", "--model", "/nonexistent/model.gguf", "hello"])
        #expect(r.status != 0)
        #expect(r.stderr.contains("/nonexistent/model.gguf"))
    }
}

/// The data and evaluation commands end to end on a small scenes set: generate, cache MiniLM
/// features (then resume as a no-op), and evaluate CRA, retrieval and zero-shot with an
/// untrained tiny LLM2CLIP model (the numbers are not the point; the plumbing is).
@Suite(.serialized) struct DataCommandTests {
    @Test func scenesCacheAndEvaluate() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-data-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let scenes = dir + "/scenes", store = dir + "/features", model = dir + "/llm2clip.safetensors"
        let minilm = root.appendingPathComponent(".cache/assets/minilm").path

        let s = try run(["scenes", "--out", scenes, "--images", "12", "--seed", "3"])
        #expect(s.status == 0, "\(s.stderr)")
        let c = try run(["cache-text", "--model", minilm, "--data", scenes, "--out", store])
        #expect(c.status == 0, "\(c.stderr)")
        #expect(c.stderr.contains("72 to embed"), "\(c.stderr)")
        let again = try run(["cache-text", "--model", minilm, "--data", scenes, "--out", store])
        #expect(again.stderr.contains("72 already stored, 0 to embed"), "\(again.stderr)")

        let cra = try run(["eval", "cra", "--features", store, "--data", scenes, "--json"])
        #expect(cra.status == 0, "\(cra.stderr)")
        #expect(cra.json["count"] as? Int == 12)

        var rng = RNG(seed: 0)
        try LLM2CLIPModel(LLM2CLIPConfig(eva02: .tiny, llmDim: 384), rng: &rng).save(to: model)
        let r = try run(["eval", "retrieval", "--model", model, "--features", store, "--data", scenes, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.json["imageCount"] as? Int == 12 && r.json["textCount"] as? Int == 60)
        let z = try run(["eval", "zeroshot", "--model", model, "--text-model", minilm, "--data", "fashion-mnist", "--limit", "20", "--json"])
        #expect(z.status == 0, "\(z.stderr)")
        #expect(z.json["count"] as? Int == 20)
    }
}

/// Stage 2 from the command line: train-clip (LLM2CLIP over cached MiniLM features and the
/// plain-CLIP baseline), resume, search over the trained model, and the errors a user meets first.
@Suite(.serialized) struct StageTwoCommandTests {
    @Test func trainClipResumeAndSearch() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-stage2-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let scenes = dir + "/scenes", store = dir + "/features", out = dir + "/run", base = dir + "/baseline"
        let minilm = root.appendingPathComponent(".cache/assets/minilm").path
        #expect(try run(["scenes", "--out", scenes, "--images", "16", "--seed", "4"]).status == 0)
        #expect(try run(["cache-text", "--model", minilm, "--data", scenes, "--out", store]).status == 0)

        let noFeatures = try run(["train-clip", "--data", scenes, "--out", out])
        #expect(noFeatures.status != 0 && noFeatures.stderr.contains("--features"), "\(noFeatures.stderr)")
        let wrongModel = try run(["train-clip", "--data", scenes, "--features", store, "--text-model", smol, "--out", out])
        #expect(wrongModel.status != 0 && wrongModel.stderr.contains("did not make the features"), "\(wrongModel.stderr)")

        let args = ["train-clip", "--data", scenes, "--eval", scenes, "--features", store, "--eval-features", store, "--text-model", minilm,
                    "--tower", "eva02-tiny", "--batch-size", "8", "--steps", "4", "--checkpoint-every", "2", "--out", out]
        let t = try run(args)
        #expect(t.status == 0, "\(t.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/model.safetensors"))
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5, "4 steps and one evaluation: \(lines.count) lines")
        // A finished run resumes at its last step: nothing more to train.
        let again = try run(args)
        #expect(again.status == 0 && again.stderr.contains("step 4/4"), "\(again.stderr)")

        let b = try run(["train-clip", "--data", scenes, "--text-tower", "clip", "--tower", "eva02-tiny", "--batch-size", "8", "--steps", "2", "--out", base])
        #expect(b.status == 0, "\(b.stderr)")

        let s = try run(["search", "--model", out + "/model.safetensors", "--images", scenes + "/images", "-k", "3", "--json", "a red circle"])
        #expect(s.status == 0, "\(s.stderr)")
        let results = s.json["results"] as? [[String: Any]] ?? []
        #expect(results.count == 3 && (results.first?["path"] as? String)?.hasSuffix(".jpg") == true, "\(s.stdout)")
        #expect(FileManager.default.fileExists(atPath: scenes + "/images/.llm2clip-index.safetensors"))
        let sb = try run(["search", "--model", base + "/model.safetensors", "--images", scenes + "/images", "--index", dir + "/idx.safetensors", "-k", "2", "--json", "a red circle"])
        #expect(sb.status == 0 && (sb.json["results"] as? [Any])?.count == 2, "\(sb.stderr)")
    }

    /// The README's main job in its smoke form, from the shipped model zoo: every stage, both
    /// tables, the report; a second run skips the finished stages.
    @Test func quickDemoRunsEndToEndAndResumes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-demo-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let d = try run(["demo", "--quick", "--out", dir])
        #expect(d.status == 0, "\(d.stderr)")
        for row in ["base CLIP (before fine-tuning)", "CLIP, fine-tuned", "LLM2CLIP, raw SmolLM2", "LLM2CLIP, CC SmolLM2"] {
            #expect(d.stdout.components(separatedBy: "| \(row) |").count - 1 == 2, "\(d.stdout)")  // both splits
        }
        for f in ["report/index.html", "report/report.md", "report/retrieval_r1_a.svg", "report/retrieval_r1_b.svg", "report/stage2_loss.svg",
                  "report/results.json", "cc-llm/model/config.json", "cc-llm/model/tokenizer.json", "stage2/seed-1/llm-cc/model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: dir + "/" + f), "missing \(f)")
        }
        let html = try String(contentsOfFile: dir + "/report/index.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("data:image/jpeg;base64,"))
        let again = try run(["demo", "--quick", "--out", dir])
        #expect(again.status == 0, "\(again.stderr)")
        // data, CC merge, caches, base evaluation, three fine-tunes
        #expect(again.stderr.components(separatedBy: "already done").count - 1 == 7, "\(again.stderr)")
        // The trained LLM2CLIP model names its text encoder: search needs no --text-model.
        let s = try run(["search", "--model", dir + "/stage2/seed-1/llm-cc/model.safetensors", "--images", dir + "/data/eval-a/images", "-k", "1", "--json", "a blue square"])
        #expect(s.status == 0 && (s.json["results"] as? [Any])?.count == 1, "\(s.stderr)")
    }
}

/// `finetune-text --mntp` on a tiny random Llama folder (the Llama-3-style test tokenizer):
/// MNTP steps, their adapter merged, then contrastive steps; resumable outputs in place.
@Suite(.serialized) struct FinetuneTextCommandTests {
    @Test func mntpThenContrastive() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cli-finetune-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        let model = dir + "/tiny", out = dir + "/run"
        try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
        var c = LlamaConfig(vocabSize: 2048, hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, kvHeads: 2)
        c.tieWordEmbeddings = true
        c.bosTokenId = 0
        var rng = RNG(seed: 1)
        try LlamaForCausalLM(c, rng: &rng).saveHuggingFaceFolder(model)
        try FileManager.default.copyItem(atPath: root.appendingPathComponent("Tests/Goldens/tokenizers/llama3-style/tokenizer.json").path,
                                         toPath: model + "/tokenizer.json")
        let colours = ["red", "blue", "green"], shapes = ["cube", "ball"]
        var csv = "short_caption,long_caption\n"
        for i in 0..<10 {
            csv += "a \(colours[i % 3]) \(shapes[i % 2]),a large \(colours[i % 3]) \(shapes[i % 2]) with \(i) stripes on a white floor\n"
        }
        try csv.write(toFile: dir + "/pairs.csv", atomically: true, encoding: .utf8)
        try (0..<30).map { "the \(colours[$0 % 3]) \(shapes[$0 % 2]) number \($0) rests beside a grey ring." }.joined(separator: "\n")
            .write(toFile: dir + "/text.txt", atomically: true, encoding: .utf8)
        let args = ["finetune-text", "--model", model, "--pairs", dir + "/pairs.csv", "--eval-count", "4", "--out", out,
                    "--steps", "2", "--batch-size", "2", "--max-length", "32", "--micro-batch", "0", "--lora-rank", "2",
                    "--mntp", dir + "/text.txt", "--mntp-steps", "3", "--mntp-batch-size", "2", "--mntp-block-length", "16"]
        let r = try run(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("MNTP adapter merged"), "\(r.stderr)")
        let metrics = try String(contentsOfFile: out + "/mntp/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(metrics.count == 3)
        for file in ["mntp/adapter/adapter_model.safetensors", "mntp/checkpoint/trainer.json", "adapter/adapter_model.safetensors",
                     "model/model.safetensors", "metrics.jsonl"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) missing")
        }
        // Running again resumes both stages from their final checkpoints without more steps.
        let again = try run(args)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOfFile: out + "/mntp/metrics.jsonl", encoding: .utf8).split(separator: "\n").count == 3)
        let bad = try run(["finetune-text", "--model", model, "--pairs", dir + "/pairs.csv", "--out", dir + "/x", "--mntp", dir + "/nope.txt"])
        #expect(bad.status != 0 && bad.stderr.contains("nope.txt"), "\(bad.stderr)")
    }
}

/// The shipped model zoo (`models/`): the files match their cards' SHA-256 (a damaged copy is
/// refused), and each model's key metric, re-measured on new scenes, is what its card records.
@Suite(.serialized) struct ModelZooTests {
    static let zoo = root.appendingPathComponent("models").path

    /// The value of the `zoo-test-metric:` line of `models/<folder>/README.md`.
    func cardMetric(_ folder: String) throws -> Double {
        let text = try String(contentsOfFile: Self.zoo + "/\(folder)/README.md", encoding: .utf8)
        let line = try #require(text.split(whereSeparator: \.isNewline).first { $0.contains("zoo-test-metric:") }, "\(folder)/README.md")
        return try #require(Double(line.split(separator: ":").last!.trimmingCharacters(in: CharacterSet(charactersIn: " `"))))
    }

    @Test func filesMatchTheirCardsAndADamagedCopyIsRefused() throws {
        let ok = try run(["zoo", "check", "--zoo", Self.zoo])
        #expect(ok.status == 0, "\(ok.stderr)")
        let sizes = try FileManager.default.subpathsOfDirectory(atPath: Self.zoo).map {
            (try FileManager.default.attributesOfItem(atPath: Self.zoo + "/" + $0)[.size] as? Int) ?? 0
        }
        #expect(sizes.reduce(0, +) <= 32_000_000, "the zoo exceeds its 32 MB budget")
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("zoo-damaged-\(getpid())").path
        try? FileManager.default.removeItem(atPath: copy)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.copyItem(atPath: Self.zoo, toPath: copy)
        let config = copy + "/smollm2-cc-adapter/adapter_config.json"
        try (try String(contentsOfFile: config, encoding: .utf8) + " ").write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try run(["zoo", "check", "--zoo", copy])
        #expect(bad.status != 0 && bad.stderr.contains("adapter_config.json") && bad.stderr.contains("SHA-256"), "\(bad.stderr)")
    }

    @Test func keyMetricsAreWhatTheCardsSay() throws {
        let m = try run(["zoo", "measure", "--zoo", Self.zoo, "--json"])
        #expect(m.status == 0, "\(m.stderr)")
        let r1 = try #require(m.json["base_clip_short_t2i_r1"] as? Double), cc = try #require(m.json["cc_cra_mean"] as? Double)
        let raw = try #require(m.json["raw_cra_mean"] as? Double)
        #expect(r1 > 20 * (1.0 / 200), "base CLIP R@1 \(r1) is not far above chance")
        #expect(cc > raw + 0.15, "CC CRA \(cc) vs raw \(raw)")
        #expect(abs(r1 - (try cardMetric("scenes-clip-base"))) <= 0.02, "base CLIP R@1 \(r1)")
        #expect(abs(cc - (try cardMetric("smollm2-cc-adapter"))) <= 0.02, "CC CRA \(cc)")
    }
}
