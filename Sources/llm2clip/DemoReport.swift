import Datasets
import Evaluation
import Foundation
import TensorKit

/// The demo's report folder: `report.md`, a self-contained `index.html` (SVG charts and example
/// images inlined), `results.json`, `table.json` and the charts as `.svg` files.
struct DemoReport {
    let root: String
    let settings: DemoSettings
    let runs: [(id: String, title: String)]
    let results: [EvaluationResult]
    let timings: [(String, Double)]
    let totalSeconds: Double
    let eval: ImageTextDataset
    /// Per run: unit-length image embeddings and long-caption embeddings of the evaluation set.
    let longEmbeddings: [String: (images: Tensor, long: Tensor)]

    var dir: String { (root as NSString).appendingPathComponent("report") }

    /// R@1 in both directions for short and long captions, and the text side's caption-retrieval accuracy.
    var table: MetricsTable {
        MetricsTable(results: results, columns: [
            ("short I→T R@1", .recall("short", .imageToText, k: 1)), ("short T→I R@1", .recall("short", .textToImage, k: 1)),
            ("long I→T R@1", .recall("long", .imageToText, k: 1)), ("long T→I R@1", .recall("long", .textToImage, k: 1)),
            ("text CRA s→l", .captionRetrievalShortToLong("text")), ("text CRA l→s", .captionRetrievalLongToShort("text")),
        ], title: "Held-out retrieval (\(eval.count) images, held-out wording), %", highlightBest: true)
    }

    /// R@1 and R@10 on the training split: what the models fit, against what transfers.
    var trainTable: MetricsTable {
        var cols: [(title: String, metric: Metric)] = []
        for b in ["short", "long"] {
            for d in RetrievalDirection.allCases {
                for k in [1, 10] { cols.append(("\(b) \(d.shortLabel) R@\(k)", .recall("train-" + b, d, k: k))) }
            }
        }
        return MetricsTable(results: results, columns: cols,
                            title: "Training split (\(settings.trainImages) images, training wording), %", highlightBest: true)
    }

    /// R@1/5/10 of every benchmark and direction.
    var fullTable: MetricsTable {
        var cols: [(title: String, metric: Metric)] = []
        for b in ["short", "long"] {
            for d in RetrievalDirection.allCases {
                for k in [1, 5, 10] { cols.append(("\(b) \(d.shortLabel) R@\(k)", .recall(b, d, k: k))) }
            }
        }
        return MetricsTable(results: results, columns: cols, title: "All recalls, %", highlightBest: true)
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
        let t = table
        let bars = BarChart(table: t, columns: Array(t.columns.prefix(4).map(\.title)), title: "Held-out retrieval R@1 (%)", yLabel: "%")
        let stage2Loss = LineChart(title: "Stage-2 training loss (symmetric CLIP loss)", series: runs.compactMap {
            lossSeries((root as NSString).appendingPathComponent("stage2/\($0.id)/metrics.jsonl"), name: $0.title)
        })
        let stage1Loss = LineChart(title: "Stage-1 contrastive loss (SmolLM2 + LoRA)", series: [
            lossSeries((root as NSString).appendingPathComponent("stage1/metrics.jsonl"), name: "stage 1"),
        ].compactMap { $0 })
        try put("retrieval_r1.svg", bars.svg())
        try put("stage2_loss.svg", stage2Loss.svg())
        try put("stage1_loss.svg", stage1Loss.svg())
        try put("results.json", String(decoding: try JSONSerialization.data(withJSONObject: try results.map {
            try JSONSerialization.jsonObject(with: try $0.jsonData())
        }, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
        try put("table.json", String(decoding: try t.jsonData(), as: UTF8.self))
        let examples = retrievedExamples()
        try put("report.md", markdown(examples))
        try put("index.html", try html(examples, charts: [bars.svg(), stage2Loss.svg(), stage1Loss.svg()]))
    }

    /// For a few long-caption queries: each model's top-3 images (indices into `eval`).
    func retrievedExamples(queries: Int = 3, top: Int = 3) -> [(query: Int, hits: [String: [(Int, Float)]])] {
        let n = min(queries, eval.count)
        return (0..<n).map { q in
            var hits: [String: [(Int, Float)]] = [:]
            for r in runs {
                guard let e = longEmbeddings[r.id] else { continue }
                let scores = withNoGrad { matmul(e.long.slice(axis: 0, q, q + 1), e.images.transposed()) }.contiguous()
                var ranked = (0..<eval.count).map { ($0, scores.fptr[$0]) }
                ranked.sort { $0.1 > $1.1 }
                hits[r.id] = Array(ranked.prefix(top))
            }
            return (q, hits)
        }
    }

    func markdown(_ examples: [(query: Int, hits: [String: [(Int, Float)]])]) -> String {
        var md = "# LLM2CLIP demo report\n\n"
        md += "Scenes world: \(settings.trainImages) training images, \(eval.count) held-out evaluation images with held-out wording. "
        md += "Image tower `\(settings.tower)` for all three models; stage 2: \(settings.stage2Steps) steps × \(settings.stage2Batch) images each; "
        md += "stage 1: \(settings.stage1Steps) steps × \(settings.stage1Batch) caption pairs.\n\n"
        md += table.markdown() + "\n"
        md += "![R@1](retrieval_r1.svg)\n\n![stage-2 loss](stage2_loss.svg)\n\n![stage-1 loss](stage1_loss.svg)\n\n"
        md += fullTable.markdown() + "\n"
        md += "The same models on the images they were trained on (chance R@1 is \(String(format: "%.2f", 100 / Double(max(settings.trainImages, 1))))%): "
        md += "far better numbers here than above mean the models fit their training data but do not transfer to new scenes and wording.\n\n"
        md += trainTable.markdown() + "\n"
        md += "## Retrieved examples (long-caption queries, top 3)\n\n"
        for ex in examples {
            md += "**Query:** \(eval.samples[ex.query].longCaption ?? "")\n\n"
            for r in runs {
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
        h += "body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}table{border-collapse:collapse}"
        h += "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
        h += ".hit{display:inline-block;margin:4px;text-align:center;font-size:12px}.ok{outline:3px solid #2a2}</style></head><body>"
        h += "<h1>LLM2CLIP demo report</h1><p>\(esc("\(settings.trainImages) training images, \(eval.count) held-out images (held-out wording); tower \(settings.tower); stage 2: \(settings.stage2Steps) steps × \(settings.stage2Batch) per model; total \(formatDuration(totalSeconds))."))</p>"
        for m in [table, fullTable, trainTable] {
            h += "<h2>\(esc(m.title ?? ""))</h2><table><tr><th>model</th>" + m.columns.map { "<th>\(esc($0.title))</th>" }.joined() + "</tr>"
            for r in m.rows {
                h += "<tr><td>\(esc(r.model))</td>" + r.values.map { v in "<td>\(v.map { String(format: "%.1f", $0) } ?? "—")</td>" }.joined() + "</tr>"
            }
            h += "</table>"
        }
        for c in charts { h += "<div>\(c.replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>", with: ""))</div>" }
        h += "<h2>Retrieved examples (long-caption queries, top 3)</h2>"
        for ex in examples {
            h += "<p><b>Query:</b> \(esc(eval.samples[ex.query].longCaption ?? ""))</p><div>\(imageTag(ex.query)) (the query's own image)</div><table>"
            for r in runs {
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
