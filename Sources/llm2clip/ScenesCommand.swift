import ArgumentParser
import Foundation
import Scenes
import Tokenizers

/// `llm2clip scenes`: generate the procedural scenes image–caption data set.
struct ScenesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scenes",
        abstract: "Generate the procedural scenes data set (images with short and dense captions).",
        discussion: """
        Each image shows 1–6 shapes (10 shapes, 12 colours, 3 sizes, stripes/dots/checks/outlines) \
        on a 3×3 grid over a plain, gradient, striped or checkered background. Every image has five \
        short captions about its most salient objects and one dense caption describing everything \
        (usually longer than CLIP's 77 tokens). Sample i depends only on (--seed, --split, i), so \
        the output is the same on every machine and --start resumes or extends a data set.

        Files in --out: images/<key>.jpg, manifest.jsonl, manifest.csv (short captions joined by \
        " || "), web-dataset shards shard-00000.tar … (<key>.jpg/.txt/.json), pairs.csv \
        (short_caption,long_caption) and scenes.json (the parameters). --layouts picks a subset.

        --held-out-wording writes the captions with synonyms and paraphrases never used in \
        training captions ("crimson" for red, "box" for square, "west of" for "to the left of"), \
        for an evaluation split. --stats prints caption lengths in CLIP BPE tokens (needs \
        the CLIP vocabulary, see --vocab); --stats-only does that without writing files.

        Examples:
          llm2clip scenes --out data/scenes-train --images 20000 --seed 1
          llm2clip scenes --out data/scenes-eval --images 1000 --seed 1 --split eval --held-out-wording
          llm2clip scenes --stats-only --images 500 --seed 1
        """)

    @Option(help: "Output folder (created if needed).") var out: String?
    @Option(help: "Number of images.") var images = 1000
    @Option(help: "Seed of the data set.") var seed: UInt64 = 0
    @Option(help: "Image side in pixels (64–224 are typical).") var size = 64
    @Option(help: "train or eval (different scenes for the same seed).") var split = "train"
    @Flag(help: "Write captions with the held-out synonyms and paraphrases (for evaluation).") var heldOutWording = false
    @Option(help: "Most objects per scene (1–6): fewer give simpler pictures and shorter dense captions.") var maxObjects = 6
    @Option(help: "Images per web-dataset tar shard.") var shardSize = 1000
    @Option(help: "Index of the first image (to extend or resume a data set in another folder).") var start = 0
    @Option(help: "Comma-separated layouts to write: manifest (images/ + manifest.jsonl/.csv), wds (tar shards), pairs.") var layouts = "manifest,wds,pairs"
    @Option(help: "JPEG quality (1–100).") var jpegQuality = 95
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "CLIP BPE vocabulary for --stats.") var vocab = ".cache/assets/openclip-vocab/bpe_simple_vocab_16e6.txt.gz"
    @Flag(help: "Print caption statistics (CLIP BPE tokens) after generating.") var stats = false
    @Flag(help: "Only compute caption statistics: no rendering, no files.") var statsOnly = false
    @Option(help: "Print the captions of the first N images.") var show = 0
    @Flag(help: "Print a JSON summary on standard output.") var json = false

    func validate() throws {
        guard images >= 1 else { throw ValidationError("--images must be at least 1") }
        guard start >= 0 else { throw ValidationError("--start must be 0 or more") }
        guard SceneSplit(rawValue: split) != nil else { throw ValidationError("--split must be train or eval, not '\(split)'") }
        guard (8...1024).contains(size) else { throw ValidationError("--size must be within 8…1024 pixels (64–224 are typical)") }
        guard shardSize >= 1 else { throw ValidationError("--shard-size must be at least 1") }
        guard (1...100).contains(jpegQuality) else { throw ValidationError("--jpeg-quality must be within 1…100") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
        if !SceneDataset.maxObjectsRange.contains(maxObjects) {
            throw ValidationError("--max-objects must be in \(SceneDataset.maxObjectsRange), got \(maxObjects)")
        }
        if !statsOnly && out == nil { throw ValidationError("--out is required (or pass --stats-only to write nothing)") }
        let known: Set<String> = ["manifest", "wds", "pairs"]
        let picked = layoutList
        guard !picked.isEmpty, picked.allSatisfy(known.contains) else {
            throw ValidationError("--layouts takes a comma-separated subset of manifest,wds,pairs, not '\(layouts)'")
        }
    }

    private var layoutList: [String] {
        layouts.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func run() throws {
        let splitValue = SceneSplit(rawValue: split)!
        let tokenizer: CLIPTokenizer? = (stats || statsOnly) ? try loadVocab() : nil
        if statsOnly {
            let t0 = Date()
            let texts = SceneDataset.generateText(count: images, seed: seed, split: splitValue, heldOutWording: heldOutWording,
                                                  start: start, maxObjects: maxObjects, threads: threads)
            let s = CaptionStatistics(texts) { tokenizer!.encode($0).count }
            showExamples(texts.prefix(show).map { ($0.key, $0.shortCaptions, $0.denseCaption) })
            if json {
                try printJSON(["images": images, "seed": seed, "split": split, "held_out_wording": heldOutWording,
                               "seconds": Date().timeIntervalSince(t0), "stats": statsJSON(s)])
            } else {
                printStats(s)
            }
            return
        }
        let dir = out!
        var options = SceneExportOptions()
        let picked = Set(layoutList)
        options.manifest = picked.contains("manifest")
        options.webDataset = picked.contains("wds")
        options.pairs = picked.contains("pairs")
        options.shardSize = shardSize
        options.jpegQuality = jpegQuality
        options.threads = threads
        let exporter: SceneExporter
        do { exporter = try SceneExporter(directory: dir, options: options) } catch {
            throw CommandFailure("cannot write to --out \(dir): \(error)")
        }
        let bar = ProgressBar(total: images, label: "scenes", unit: "images")
        let t0 = Date()
        var renderSeconds = 0.0
        var shortCaptions: [[String]] = []
        var denseCaptions: [String] = []
        var examples: [(String, [String], String)] = []
        let batch = 256
        var doneCount = 0
        while doneCount < images {
            let n = min(batch, images - doneCount)
            let r0 = Date()
            let samples = SceneDataset.generate(count: n, seed: seed, imageSize: size, split: splitValue,
                                                heldOutWording: heldOutWording, start: start + doneCount, maxObjects: maxObjects,
                                                threads: threads)
            renderSeconds += Date().timeIntervalSince(r0)
            do { try exporter.add(samples) } catch { throw CommandFailure("writing \(dir): \(error)") }
            if stats {
                shortCaptions += samples.map(\.shortCaptions)
                denseCaptions += samples.map(\.denseCaption)
            }
            if examples.count < show {
                examples += samples.prefix(show - examples.count).map { ($0.key, $0.shortCaptions, $0.denseCaption) }
            }
            doneCount += n
            bar.update(doneCount)
        }
        let summary: SceneExportSummary
        do {
            summary = try exporter.finish(info: SceneGenerationInfo(seed: seed, count: images, imageSize: size, split: splitValue,
                                                                    heldOutWording: heldOutWording, start: start,
                                                                    maxObjects: maxObjects))
        } catch { throw CommandFailure("writing \(dir): \(error)") }
        let seconds = Date().timeIntervalSince(t0)
        showExamples(examples)
        let s = stats ? CaptionStatistics(shortCaptions: shortCaptions, denseCaptions: denseCaptions) { tokenizer!.encode($0).count } : nil
        if json {
            var object: [String: Any] = [
                "out": dir, "images": images, "seed": seed, "size": size, "split": split, "start": start,
                "held_out_wording": heldOutWording, "files": summary.files, "shards": summary.shards,
                "image_bytes": summary.imageBytes, "seconds": seconds,
                "images_per_second": Double(images) / max(seconds, 1e-9),
                "render_images_per_second": Double(images) / max(renderSeconds, 1e-9),
            ]
            if let s { object["stats"] = statsJSON(s) }
            try printJSON(object)
        } else {
            let rate = Double(images) / max(seconds, 1e-9)
            let renderRate = Double(images) / max(renderSeconds, 1e-9)
            print("wrote \(images) images (\(size)×\(size)) to \(dir) in \(String(format: "%.2f", seconds)) s "
                  + "(\(String(format: "%.0f", rate)) images/s; scene + render + captions \(String(format: "%.0f", renderRate)) images/s)")
            print("files: " + summary.files.joined(separator: ", ") + (options.manifest ? ", images/ (\(images) JPEGs, \(summary.imageBytes / 1024) KiB)" : ""))
            if let s { printStats(s) }
        }
    }

    private func loadVocab() throws -> CLIPTokenizer {
        guard FileManager.default.fileExists(atPath: vocab) else {
            throw CommandFailure("--stats needs the CLIP vocabulary at \(vocab): run `bash scripts/assets.sh` or pass --vocab")
        }
        do { return try Tokenizers.clip(vocabPath: vocab) } catch {
            throw CommandFailure("cannot load the CLIP vocabulary \(vocab): \(error)")
        }
    }

    private func showExamples(_ items: [(String, [String], String)]) {
        for (key, short, dense) in items {
            let text = "\(key)\n" + short.map { "  short: \($0)\n" }.joined() + "  dense: \(dense)\n"
            FileHandle.standardError.write(Data(text.utf8))
        }
    }

    private func printStats(_ s: CaptionStatistics) {
        func f(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(format: "%.1f", x) }
        print("caption statistics over \(s.images) images (CLIP BPE tokens without start/end):")
        print("  short captions: words min \(s.shortWords.min) / median \(f(s.shortWords.median)) / max \(s.shortWords.max); "
              + "tokens min \(s.shortTokens.min) / median \(f(s.shortTokens.median)) / max \(s.shortTokens.max)")
        print("  dense captions: tokens min \(s.denseTokens.min) / median \(f(s.denseTokens.median)) / p90 \(s.denseTokens.p90) / max \(s.denseTokens.max)"
              + " (mean \(String(format: "%.1f", s.denseTokens.mean))); words median \(f(s.denseWords.median))")
        print("  dense captions over 77 tokens: \(String(format: "%.1f", 100 * s.denseOver77Fraction))%; "
              + "cut by a 77-token CLIP context (with start/end): \(String(format: "%.1f", 100 * s.denseTruncatedFraction))%")
    }

    private func statsJSON(_ s: CaptionStatistics) -> [String: Any] {
        func summary(_ c: CountSummary) -> [String: Any] {
            ["min": c.min, "median": c.median, "p90": c.p90, "max": c.max, "mean": c.mean]
        }
        return [
            "images": s.images,
            "short_words": summary(s.shortWords), "short_tokens": summary(s.shortTokens),
            "dense_words": summary(s.denseWords), "dense_tokens": summary(s.denseTokens),
            "dense_over_77_fraction": s.denseOver77Fraction, "dense_truncated_fraction": s.denseTruncatedFraction,
        ]
    }
}
