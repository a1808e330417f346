import Datasets
import Evaluation
import Foundation
import TensorKit

/// The demo's report folder: `report.md`, a self-contained `index.html` (SVG charts and example
/// images inlined), `results.json`, `table.json` and the charts as `.svg` files.
struct DemoReport {
    let root: String
    let settings: DemoSettings
    /// The base CLIP before fine-tuning.
    let base: EvaluationResult
    /// Fine-tuned models by seed, then run id.
    let results: [UInt64: [String: EvaluationResult]]
    let timings: [(String, Double)]
    let totalSeconds: Double
    /// Split (a), for the retrieved examples.
    let eval: ImageTextDataset
    /// Per run (first seed): unit-length image embeddings and long-caption embeddings of split (a).
    let longEmbeddings: [String: (images: Tensor, long: Tensor)]

    var dir: String { (root as NSString).appendingPathComponent("report") }

    static let splitTitles = ["a": "split (a): new images, training wording", "b": "split (b): the same images, held-out wording"]

    /// The rows of a table: the base CLIP, then each run averaged over the seeds.
    var rows: [EvaluationResult] { [base] + DemoRun.all.compactMap { run in mean(of: run.id) } }

    /// `run`'s results averaged over every seed (a single seed's result as it is).
    func mean(of run: String) -> EvaluationResult? {
        let all = settings.seeds.compactMap { results[$0]?[run] }
        guard var out = all.first else { return nil }
        guard all.count > 1 else { return out }
        func average(_ values: [[Double]]) -> [Double] {
            let width = values.first?.count ?? 0
            var sums = [Double](repeating: 0, count: width)
            for v in values { for i in 0..<width { sums[i] += v[i] } }
            return sums.map { $0 / Double(values.count) }
        }
        for k in out.retrieval.keys {
            let ms = all.compactMap { $0.retrieval[k] }
            out.retrieval[k]!.imageToText = average(ms.map(\.imageToText))
            out.retrieval[k]!.textToImage = average(ms.map(\.textToImage))
        }
        for k in out.captionRetrieval.keys {
            let cs = all.compactMap { $0.captionRetrieval[k] }
            out.captionRetrieval[k] = CaptionRetrievalAccuracy(shortToLong: cs.map(\.shortToLong).reduce(0, +) / Double(cs.count),
                                                               longToShort: cs.map(\.longToShort).reduce(0, +) / Double(cs.count), count: cs[0].count)
        }
        for (k, z) in out.zeroShot {
            out.zeroShot[k]?.topK = z.ks.map { kk in
                let v = all.compactMap { $0.zeroShot[k]?.accuracy(at: kk) }
                return v.reduce(0, +) / Double(v.count)
            }
        }
        return out
    }

    /// R@1 both ways for short and long captions, and the text side's caption-retrieval accuracy.
    func table(split: String) -> MetricsTable {
        let seedNote = settings.seeds.count > 1 ? "; fine-tuned rows: mean of \(settings.seeds.count) seeds" : ""
        return MetricsTable(results: rows, columns: [
            ("short I→T R@1", .recall("\(split)-short", .imageToText, k: 1)), ("short T→I R@1", .recall("\(split)-short", .textToImage, k: 1)),
            ("long I→T R@1", .recall("\(split)-long", .imageToText, k: 1)), ("long T→I R@1", .recall("\(split)-long", .textToImage, k: 1)),
            ("text CRA s→l", .captionRetrievalShortToLong(split)), ("text CRA l→s", .captionRetrievalLongToShort(split)),
        ], title: "\(Self.splitTitles[split]!) (\(eval.count) images, chance R@1 \(chance)%)\(seedNote), %", highlightBest: true)
    }

    var chance: String { String(format: "%.1f", 100 / Double(max(eval.count, 1))) }

    var zeroShotTable: MetricsTable {
        MetricsTable(results: rows, columns: [("top-1", .zeroShot("colour-shape", k: 1)), ("top-5", .zeroShot("colour-shape", k: 5))],
                     title: "Zero-shot colour × shape (\(DemoEvaluationData.classNames.count) classes, \(DemoEvaluationData.templates.count) templates, \(settings.zeroShotImages) single-object images), %",
                     highlightBest: true)
    }

    /// R@1/5/10 of one split, both caption lengths and directions.
    func fullTable(split: String) -> MetricsTable {
        var cols: [(title: String, metric: Metric)] = []
        for b in ["short", "long"] {
            for d in RetrievalDirection.allCases {
                for k in [1, 5, 10] { cols.append(("\(b) \(d.shortLabel) R@\(k)", .recall("\(split)-\(b)", d, k: k))) }
            }
        }
        return MetricsTable(results: rows, columns: cols, title: "All recalls, \(Self.splitTitles[split]!), %", highlightBest: true)
    }

    /// The headline columns per seed, with mean and spread: the comparison repeated.
    func seedSpreadMarkdown() -> String {
        let columns: [(String, Metric)] = [
            ("(a) long I→T R@1", .recall("a-long", .imageToText, k: 1)), ("(a) long T→I R@1", .recall("a-long", .textToImage, k: 1)),
            ("(a) short I→T R@1", .recall("a-short", .imageToText, k: 1)), ("(a) short T→I R@1", .recall("a-short", .textToImage, k: 1)),
            ("(b) long I→T R@1", .recall("b-long", .imageToText, k: 1)), ("(b) long T→I R@1", .recall("b-long", .textToImage, k: 1)),
            ("zero-shot top-1", .zeroShot("colour-shape", k: 1)),
        ]
        var md = "Over the fine-tuning seeds \(settings.seeds.map(String.init).joined(separator: ", ")): mean ± standard deviation (min–max), %\n\n"
        md += "| model | " + columns.map(\.0).joined(separator: " | ") + " |\n|---|" + columns.map { _ in "---:|" }.joined() + "\n"
        for run in DemoRun.all {
            md += "| \(run.title) |"
            for (_, metric) in columns {
                let v = settings.seeds.compactMap { results[$0]?[run.id]?.value(metric) }.map { $0 * 100 }
                guard !v.isEmpty else { md += " — |"; continue }
                let m = v.reduce(0, +) / Double(v.count)
                let sd = (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(max(v.count - 1, 1))).squareRoot()
                md += String(format: " %.1f ± %.1f (%.1f–%.1f) |", m, sd, v.min()!, v.max()!)
            }
            md += "\n"
        }
        return md + "\n"
    }

    func lossSeries(_ file: String, name: String) -> LineChart.Series? {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        var points: [(x: Double, y: Double)] = []
        for line in text.split(whereSeparator: \.isNewline) {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = obj["step"] as? Double, let loss = obj["loss"] as? Double else { continue }
            points.append((step, loss))
        }
        return points.isEmpty ? nil : LineChart.Series(name: name, points: points)
    }

    func write() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func put(_ name: String, _ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(name)), options: .atomic)
        }
        let a = table(split: "a"), b = table(split: "b")
        let barsA = BarChart(table: a, columns: Array(a.columns.prefix(4).map(\.title)), title: "Split (a), training wording: R@1 (%)", yLabel: "%")
        let barsB = BarChart(table: b, columns: Array(b.columns.prefix(4).map(\.title)), title: "Split (b), held-out wording: R@1 (%)", yLabel: "%")
        let firstSeed = settings.seeds[0]
        let loss = LineChart(title: "Fine-tuning loss (symmetric CLIP loss, seed \(firstSeed))", series: DemoRun.all.compactMap {
            lossSeries((root as NSString).appendingPathComponent("stage2/seed-\(firstSeed)/\($0.id)/metrics.jsonl"), name: $0.title)
        })
        try put("retrieval_r1_a.svg", barsA.svg())
        try put("retrieval_r1_b.svg", barsB.svg())
        try put("stage2_loss.svg", loss.svg())
        var all: [[String: Any]] = [["seed": NSNull(), "result": try JSONSerialization.jsonObject(with: try base.jsonData())]]
        for seed in settings.seeds {
            for run in DemoRun.all {
                guard let r = results[seed]?[run.id] else { continue }
                all.append(["seed": seed, "run": run.id, "result": try JSONSerialization.jsonObject(with: try r.jsonData())])
            }
        }
        try put("results.json", String(decoding: try JSONSerialization.data(withJSONObject: all, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        try put("table.json", String(decoding: try JSONSerialization.data(withJSONObject: [
            "a": try JSONSerialization.jsonObject(with: try a.jsonData()), "b": try JSONSerialization.jsonObject(with: try b.jsonData()),
            "zero_shot": try JSONSerialization.jsonObject(with: try zeroShotTable.jsonData()),
        ], options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        let examples = retrievedExamples()
        try put("report.md", markdown(examples))
        try put("index.html", try html(examples, charts: [barsA.svg(), barsB.svg(), loss.svg()]))
    }

    /// For a few long-caption queries of split (a): each model's top-3 images (indices into `eval`).
    func retrievedExamples(queries: Int = 3, top: Int = 3) -> [(query: Int, hits: [String: [(Int, Float)]])] {
        let n = min(queries, eval.count)
        return (0..<n).map { q in
            var hits: [String: [(Int, Float)]] = [:]
            for r in DemoRun.all {
                guard let e = longEmbeddings[r.id] else { continue }
                let scores = withNoGrad { matmul(e.long.slice(axis: 0, q, q + 1), e.images.transposed()) }.contiguous()
                var ranked = (0..<eval.count).map { ($0, scores.fptr[$0]) }
                ranked.sort { $0.1 > $1.1 }
                hits[r.id] = Array(ranked.prefix(top))
            }
            return (q, hits)
        }
    }

    var summary: String {
        let s = settings
        return "Fine-tuned from the model zoo's base scenes CLIP (EVA02 `small` tower, 77-token text tower) and SmolLM2-135M-Instruct with its CC adapter. "
            + "\(s.fineTuneImages) fine-tuning images (one short and one dense caption each, long with p = \(s.longCaptionProbability)), "
            + "\(s.evalImages) new evaluation images (at most \(s.maxObjects) objects), \(s.zeroShotImages) single-object images for zero-shot. "
            + "Each fine-tuned model: \(s.stage2Steps) steps × \(s.stage2Batch) images, lr \(s.stage2LearningRate) for new parts, "
            + "×\(s.pretrainedLearningRateScale) for pretrained ones, layer decay \(s.stage2LayerDecay); seeds \(s.seeds.map(String.init).joined(separator: ", "))."
    }

    func markdown(_ examples: [(query: Int, hits: [String: [(Int, Float)]])]) -> String {
        var md = "# LLM2CLIP demo report\n\n" + summary + "\n\n"
        md += table(split: "a").markdown() + "\n" + table(split: "b").markdown() + "\n" + zeroShotTable.markdown() + "\n"
        if settings.seeds.count > 1 { md += seedSpreadMarkdown() }
        md += "![R@1 (a)](retrieval_r1_a.svg)\n\n![R@1 (b)](retrieval_r1_b.svg)\n\n![fine-tuning loss](stage2_loss.svg)\n\n"
        md += fullTable(split: "a").markdown() + "\n" + fullTable(split: "b").markdown() + "\n"
        md += "## Retrieved examples (split (a), long-caption queries, top 3)\n\n"
        for ex in examples {
            md += "**Query:** \(eval.samples[ex.query].longCaption ?? "")\n\n"
            for r in DemoRun.all {
                let cells = (ex.hits[r.id] ?? []).map { i, s in
                    let mark = i == ex.query ? " ✓" : ""
                    return "![\(eval.samples[i].key)](../\(relativeImage(i))) \(String(format: "%.2f", s))\(mark)"
                }
                md += "- \(r.title): " + cells.joined(separator: " ") + "\n"
            }
            md += "\n"
        }
        md += "## Time\n\n| stage | time |\n|---|---:|\n"
        for (name, sec) in timings { md += "| \(name) | \(formatDuration(sec)) |\n" }
        md += "| **total** | **\(formatDuration(totalSeconds))** |\n"
        return md
    }

    func relativeImage(_ i: Int) -> String {
        let p = eval.samples[i].image.name
        return p.hasPrefix(root + "/") ? String(p.dropFirst(root.count + 1)) : p
    }

    func html(_ examples: [(query: Int, hits: [String: [(Int, Float)]])], charts: [String]) throws -> String {
        func esc(_ s: String) -> String { escapeXML(s) }
        func imageTag(_ i: Int) -> String {
            guard let path = eval.samples[i].image.path, let data = FileManager.default.contents(atPath: path) else { return "" }
            return "<img width=96 height=96 style=\"image-rendering:pixelated\" src=\"data:image/jpeg;base64,\(data.base64EncodedString())\">"
        }
        var h = "<!doctype html><html><head><meta charset=\"utf-8\"><title>LLM2CLIP demo</title><style>"
        h += "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}table{border-collapse:collapse;margin-bottom:1em}"
        h += "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        h += ".hit{display:inline-block;margin:4px;text-align:center;font-size:12px}.ok{outline:3px solid #2a2}</style></head><body>"
        h += "<h1>LLM2CLIP demo report</h1><p>\(esc(summary)) Total \(formatDuration(totalSeconds)).</p>"
        for m in [table(split: "a"), table(split: "b"), zeroShotTable, fullTable(split: "a"), fullTable(split: "b")] {
            h += "<h2>\(esc(m.title ?? ""))</h2><table><tr><th>model</th>" + m.columns.map { "<th>\(esc($0.title))</th>" }.joined() + "</tr>"
            for r in m.rows {
                h += "<tr><td>\(esc(r.model))</td>" + r.values.map { v in "<td>\(v.map { String(format: "%.1f", $0) } ?? "—")</td>" }.joined() + "</tr>"
            }
            h += "</table>"
        }
        if settings.seeds.count > 1 { h += "<h2>Seeds</h2><pre>\(esc(seedSpreadMarkdown()))</pre>" }
        for c in charts { h += "<div>\(c.replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", with: ""))</div>" }
        h += "<h2>Retrieved examples (split (a), long-caption queries, top 3)</h2>"
        for ex in examples {
            h += "<p><b>Query:</b> \(esc(eval.samples[ex.query].longCaption ?? ""))</p><div>\(imageTag(ex.query)) (the query's own image)</div><table>"
            for r in DemoRun.all {
                h += "<tr><td>\(esc(r.title))</td><td style=\"text-align:left\">"
                for (i, s) in ex.hits[r.id] ?? [] {
                    h += "<span class=\"hit\"><span class=\"\(i == ex.query ? "ok" : "")\">\(imageTag(i))</span><br>\(String(format: "%.2f", s))</span>"
                }
                h += "</td></tr>"
            }
            h += "</table>"
        }
        h += "<h2>Time</h2><table>" + timings.map { "<tr><td>\(esc($0.0))</td><td>\(formatDuration($0.1))</td></tr>" }.joined()
        h += "<tr><td><b>total</b></td><td><b>\(formatDuration(totalSeconds))</b></td></tr></table></body></html>\n"
        return h
    }
}
