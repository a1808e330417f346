import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TensorKit
import Evaluation

private func sampleResults() -> [EvaluationResult] {
    func retrieval(_ i2t: Double, _ t2i: Double) -> RetrievalMetrics {
        RetrievalMetrics(ks: [1, 5, 10], imageToText: [i2t, 0.9, 0.95], textToImage: [t2i, 0.85, 0.9],
                         imageToTextMeanRank: 2.5, imageToTextMedianRank: 1, textToImageMeanRank: 3.25,
                         textToImageMedianRank: 2, imageCount: 100, textCount: 500)
    }
    var a = EvaluationResult(model: "EVA02 ViT-L/14")
    a.retrieval["flickr"] = retrieval(0.898, 0.733)
    a.retrieval["urban1k"] = retrieval(0.685, 0.733)
    a.captionRetrieval["urban1k"] = CaptionRetrievalAccuracy(shortToLong: 0.5, longToShort: 0.25, count: 8)
    var b = EvaluationResult(model: "+ Llama-3-8B-CC | ours")
    b.retrieval["flickr"] = retrieval(0.92, 0.828)
    b.retrieval["urban1k"] = retrieval(0.881, 0.94)
    b.scalars["final-loss"] = 0.125
    return [a, b]
}

@Suite struct ResultsTests {
    @Test func metricLookup() {
        let r = sampleResults()[0]
        #expect(r.value(.recall("flickr", .imageToText, k: 1)) == 0.898)
        #expect(r.value(.recall("flickr", .textToImage, k: 5)) == 0.85)
        #expect(r.value(.recall("flickr", .textToImage, k: 3)) == nil)
        #expect(r.value(.recall("coco", .textToImage, k: 1)) == nil)
        #expect(r.value(.meanRank("flickr", .textToImage)) == 3.25)
        #expect(r.value(.captionRetrievalMean("urban1k")) == 0.375)
        #expect(sampleResults()[1].value(.scalar("final-loss")) == 0.125)
    }

    @Test func resultJSONRoundTrip() throws {
        var r = sampleResults()[1]
        r.zeroShot["fashion-mnist"] = ZeroShotMetrics(ks: [1, 5], topK: [0.5, 1], perClassAccuracy: [1, nil],
                                                      perClassCount: [2, 0], meanPerClassAccuracy: 1, count: 2)
        r.scalars["diverged"] = .nan
        let data = try r.jsonData()
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"model\" : \"+ Llama-3-8B-CC | ours\""))
        #expect(text.contains("\"nan\""))
        let back = try EvaluationResult.decode(from: data)
        #expect(back.model == r.model && back.retrieval == r.retrieval && back.zeroShot == r.zeroShot)
        #expect(back.scalars["diverged"]!.isNaN)
        // Sorted keys: the same result always gives the same bytes.
        #expect(try back.jsonData() == data)
    }

    @Test func retrievalTableMarkdown() throws {
        let t = MetricsTable.retrieval(sampleResults(), benchmarks: ["flickr", "urban1k"], k: 1, title: "R@1")
        let expected = """
        **R@1**

        | model | flickr I→T R@1 | flickr T→I R@1 | urban1k I→T R@1 | urban1k T→I R@1 | avg |
        |---|---:|---:|---:|---:|---:|
        | EVA02 ViT-L/14 | 89.8 | 73.3 | 68.5 | 73.3 | 76.2 |
        | + Llama-3-8B-CC \\| ours | **92.0** | **82.8** | **88.1** | **94.0** | **89.2** |

        """
        #expect(t.markdown() == expected)
        #expect(abs(t.value(model: "EVA02 ViT-L/14", column: "avg")! - 76.225) < 1e-9)
    }

    @Test func customTableWithGapsAndRanks() throws {
        var t = MetricsTable(results: sampleResults(),
                             columns: [(title: "CRA", metric: .captionRetrievalMean("urban1k")),
                                       (title: "T→I mean rank", metric: .meanRank("flickr", .textToImage))],
                             percent: true, averageTitle: "avg", decimals: 2, highlightBest: true)
        t.addRow("manual", [nil, 1.5, nil])
        let md = t.markdown()
        #expect(md.contains("| EVA02 ViT-L/14 | **37.50** | 3.25 | **20.38** |"))
        #expect(md.contains("| + Llama-3-8B-CC \\| ours | — | 3.25 | — |"))
        #expect(md.contains("| manual | — | **1.50** | — |"))   // ranks: lower is better
        let back = try MetricsTable.decode(from: t.jsonData())
        #expect(back == t)
        #expect(back.rows[2].values == [nil, 1.5, nil])
    }
}

// MARK: - SVG

/// Checks that every start tag is closed in order (a well-formedness check that needs no XML parser).
private func tagsBalance(_ svg: String) -> Bool {
    var stack: [String] = []
    var i = svg.startIndex
    while let open = svg[i...].firstIndex(of: "<") {
        guard let close = svg[open...].firstIndex(of: ">") else { return false }
        let tag = svg[svg.index(after: open)..<close]
        i = svg.index(after: close)
        if tag.hasPrefix("?") || tag.hasPrefix("!") { continue }
        if tag.hasSuffix("/") { continue }
        let name = tag.split(whereSeparator: { $0 == " " || $0 == "\n" }).first.map(String.init) ?? ""
        if name.hasPrefix("/") {
            guard stack.popLast() == String(name.dropFirst()) else { return false }
        } else {
            stack.append(name)
        }
    }
    return stack.isEmpty
}

private func count(_ needle: String, in s: String) -> Int { s.components(separatedBy: needle).count - 1 }

private func parses(_ svg: String) -> Bool {
    #if canImport(FoundationXML) || os(macOS)
    // The SAX parser reports every well-formedness error (XMLDocument on Linux recovers from some).
    return XMLParser(data: Data(svg.utf8)).parse()
    #else
    return true
    #endif
}

@Suite struct ChartTests {
    @Test func checkersRejectBrokenXML() {
        #expect(!tagsBalance("<svg><g></svg>"))
        #expect(tagsBalance(#"<svg><g a="1"/><text>x</text></svg>"#))
        #if canImport(FoundationXML) || os(macOS)
        #expect(!parses("<svg><text>a < b</text></svg>"))
        #expect(parses("<svg><text>a &lt; b</text></svg>"))
        #endif
    }

    @Test func groupedBars() {
        let chart = BarChart(title: "R@1 <image→text> & more", categories: ["Flickr30k", "COCO", "Urban<1k>"],
                             series: [.init(name: "CLIP", values: [89.8, 63.8, nil]),
                                      .init(name: "LLM2CLIP & <CC>", values: [92.0, 68.5, 88.1])],
                             yLabel: "R@1 (%)", yMax: 100)
        let svg = chart.svg()
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.contains(#"<svg xmlns="http://www.w3.org/2000/svg""#))
        #expect(tagsBalance(svg))
        #expect(parses(svg))
        #expect(count(#"<rect class="bar""#, in: svg) == 5)          // one value is missing
        #expect(count(#"class="legend-swatch""#, in: svg) == 2)
        #expect(count(#"<text class="value""#, in: svg) == 5)
        #expect(count(#"<text class="category""#, in: svg) == 3)
        #expect(svg.contains(">92.0</text>") && svg.contains(">63.8</text>"))
        // y axis 0…100 in steps of 20.
        for t in ["0", "20", "40", "60", "80", "100"] { #expect(svg.contains(">\(t)</text>")) }
        #expect(svg.contains("LLM2CLIP &amp; &lt;CC&gt;"))
        #expect(svg.contains("Urban&lt;1k&gt;"))
        #expect(svg.contains("R@1 &lt;image→text&gt; &amp; more"))
        #expect(!svg.contains("<CC>") && !svg.contains("& more"))
        #expect(chart.svg() == svg)   // deterministic
    }

    @Test func barsFromTableAndNegativeValues() {
        let t = MetricsTable.retrieval(sampleResults(), benchmarks: ["flickr"], k: 1)
        let svg = BarChart(table: t, title: "from a table").svg()
        #expect(count(#"<rect class="bar""#, in: svg) == 6)   // 2 models × (2 directions + avg)
        #expect(tagsBalance(svg) && parses(svg))

        let neg = BarChart(title: "deltas", categories: ["a", "b"], series: [.init(name: "x", values: [-2.5, 4])]).svg()
        #expect(count(#"<rect class="bar""#, in: neg) == 2)
        #expect(neg.contains(">-2.5</text>") && neg.contains(">-4</text>"))   // axis reaches below zero
        #expect(tagsBalance(neg) && parses(neg))
    }

    @Test func manyBarsTurnLabels() {
        let names = (0..<12).map { "a rather long benchmark name \($0)" }
        let series = (0..<6).map { s in BarChart.Series(name: "model \(s)", values: (0..<12).map { Double($0 * s) }) }
        let svg = BarChart(title: "busy", categories: names, series: series).svg()
        #expect(count(#"<rect class="bar""#, in: svg) == 72)
        #expect(svg.contains("rotate(-35"))
        #expect(tagsBalance(svg) && parses(svg))
    }

    @Test func lossCurves() {
        let steps = (0..<50).map(Double.init)
        let chart = LineChart(title: "loss", xLabel: "step", yLabel: "loss",
                              series: [.init(name: "train", points: steps.map { ($0, 4 * exp(-$0 / 10) + 0.05) }),
                                       .init(name: "val", points: steps.map { ($0, 3 * exp(-$0 / 15) + 0.2) }),
                                       .init(name: "single <pt>", values: [1.5])])
        let svg = chart.svg()
        #expect(tagsBalance(svg) && parses(svg))
        #expect(count(#"<path class="series""#, in: svg) == 3)
        #expect(count(#"class="legend-swatch""#, in: svg) == 3)
        #expect(count(#"<circle class="marker""#, in: svg) == 1)
        #expect(svg.contains("single &lt;pt&gt;"))
        #expect(svg.contains(">step</text>"))
        #expect(chart.svg() == svg)
    }

    @Test func logScaleAndGaps() {
        let values: [Double] = [100, 10, .nan, 1, 0.1, 0, 0.01]   // NaN and 0 break the line
        let chart = LineChart(title: "log", series: [.init(name: "loss", values: values)], logY: true)
        let svg = chart.svg()
        #expect(tagsBalance(svg) && parses(svg))
        // Decade ticks from 0.01 to 100.
        for t in ["0.01", "0.1", "1", "10", "100"] { #expect(svg.contains(">\(t)</text>")) }
        let path = svg.components(separatedBy: "<path class=\"series\" d=\"")[1].components(separatedBy: "\"")[0]
        #expect(count("M", in: path) == 3)   // segments [100, 10], [1, 0.1], [0.01]
        #expect(count("L", in: path) == 2)
    }

    @Test func axisTicksAndLabels() {
        func tickLabels(_ svg: String) -> [String] {
            svg.components(separatedBy: #"<text class="tick-label""#).dropFirst().map {
                $0.components(separatedBy: ">")[1].components(separatedBy: "<")[0]
            }
        }
        // 0…0.93: step 0.2, top rounded up to 1.
        let a = BarChart(title: "", categories: ["x"], series: [.init(name: "s", values: [0.93])]).svg()
        #expect(tickLabels(a) == ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"])
        // 0…1.1: step 0.25.
        let b = BarChart(title: "", categories: ["x"], series: [.init(name: "s", values: [1.1])]).svg()
        #expect(tickLabels(b) == ["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"])
        // 0…17: step 5, top 20.
        let c = BarChart(title: "", categories: ["x"], series: [.init(name: "s", values: [17])]).svg()
        #expect(tickLabels(c) == ["0", "5", "10", "15", "20"])
        // Log axis over six decades: powers of ten, tiny ones in exponent form.
        let d = LineChart(title: "", series: [.init(name: "s", values: [1, 1e-6])], logY: true).svg()
        let labels = tickLabels(d)
        #expect(labels.contains("1e-6") && labels.contains("1e-5") && labels.contains("0.0001") && labels.contains("1"))
        #expect(escapeXML(#"a<b & "c" 'd'>"#) == "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;")
    }
}
