import Foundation

// Self-contained SVG charts for reports: no scripts, no external fonts or styles, every
// attribute inline, numbers printed with at most two decimals, so the same data always gives the
// same bytes. Bars are `<rect class="bar">`, lines `<path class="series">`, legend entries
// `<rect class="legend-swatch">`, which tests and post-processing can count.

/// Colours of series 0, 1, 2, … (Tableau 10), repeated when there are more series.
public let chartPalette: [String] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
]

/// A grouped bar chart: one group per category on the x axis (e.g. benchmarks), one bar per
/// series inside each group (e.g. models), with y grid and ticks, value labels, legend.
///
/// ```swift
/// let chart = BarChart(title: "R@1 image→text", categories: ["Flickr30k", "COCO"],
///                      series: [.init(name: "CLIP", values: [89.8, 63.8]), .init(name: "LLM2CLIP", values: [92.0, 68.5])],
///                      yLabel: "R@1 (%)")
/// try chart.svg().write(to: url, atomically: true, encoding: .utf8)
/// ```
public struct BarChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// One per category; nil leaves a gap.
        public var values: [Double?]
        public init(name: String, values: [Double?]) {
            self.name = name
            self.values = values
        }
    }

    public var title: String
    public var categories: [String]
    public var series: [Series]
    public var yLabel: String
    /// Fixed top of the y axis (e.g. 100 for percentages); nil picks a round number above the data.
    public var yMax: Double?
    /// Print each bar's value above it.
    public var showValues: Bool
    public var valueDecimals: Int
    public var width: Double
    public var height: Double

    public init(title: String, categories: [String], series: [Series], yLabel: String = "", yMax: Double? = nil,
                showValues: Bool = true, valueDecimals: Int = 1, width: Double = 800, height: Double = 420) {
        self.title = title
        self.categories = categories
        self.series = series
        self.yLabel = yLabel
        self.yMax = yMax
        self.showValues = showValues
        self.valueDecimals = valueDecimals
        self.width = width
        self.height = height
    }

    /// Bars of `metrics` from `table`: one group per column, one series per row (model).
    public init(table: MetricsTable, columns: [String]? = nil, title: String? = nil, yLabel: String = "",
                yMax: Double? = nil) {
        let titles = columns ?? table.columns.map(\.title)
        let index = titles.map { t in table.columns.firstIndex { $0.title == t } }
        self.init(title: title ?? table.title ?? "", categories: titles,
                  series: table.rows.map { r in
                      Series(name: r.model, values: index.map { i in i.flatMap { $0 < r.values.count ? r.values[$0] : nil } })
                  },
                  yLabel: yLabel, yMax: yMax, valueDecimals: table.decimals)
    }

    /// The chart as a standalone SVG document.
    public func svg() -> String {
        var doc = SVGDocument(width: width, height: height, title: title)
        let values = series.flatMap { $0.values.compactMap { $0 } }.filter { $0.isFinite }
        let lo = min(0, values.min() ?? 0)
        var hi = max(0, values.max() ?? 1)
        if let m = yMax { hi = max(m, lo) }
        let axis = LinearAxis(lo: lo, hi: hi, fixedTop: yMax != nil)

        let legendWidth = legendColumnWidth(series.map(\.name), chartWidth: width)
        let groupCount = max(categories.count, 1)
        let right = 16 + legendWidth, top = title.isEmpty ? 20.0 : 44.0
        // Category labels wider than their group are turned 35° (anchored at their end), cut
        // with "…" to fit 35% of the height, and the left margin grows so that none leaves the canvas.
        var left = 64.0
        var groupWidth = max(width - left - right, 10) / Double(groupCount)
        let rotateLabels = (categories.map { textWidth($0, size: 12) }.max() ?? 0) > groupWidth * 0.95
        var shownCategories = categories
        if rotateLabels {
            let budget = max(40, (height * 0.35 - 24) / sin35)
            shownCategories = categories.map { truncated($0, toWidth: budget, size: 12) }
            for _ in 0..<3 {   // the margin narrows the groups, which needs a little more margin
                for (k, name) in shownCategories.enumerated() {
                    left = max(left, cos35 * textWidth(name, size: 12) + 6 - (Double(k) + 0.5) * groupWidth)
                }
                groupWidth = max(width - left - right, 10) / Double(groupCount)
            }
        }
        let plotWidth = max(width - left - right, 10)
        let longest = shownCategories.map { textWidth($0, size: 12) }.max() ?? 0
        let bottom = rotateLabels ? 30 + longest * sin35 : 48.0
        let plot = Rect(x: left, y: top, width: plotWidth, height: max(height - top - bottom, 10))
        let y = { (v: Double) in plot.y + plot.height * (1 - (v - axis.lo) / (axis.hi - axis.lo)) }

        doc.drawTitle(title)
        doc.drawYGrid(axis.ticks.map { (y($0), axis.label($0)) }, plot: plot)
        doc.drawYLabel(yLabel, plot: plot)

        let s = max(series.count, 1)
        let inner = groupWidth * 0.8
        let barStep = inner / Double(s)
        let barWidth = barStep * 0.9
        let baseline = y(min(max(0, axis.lo), axis.hi))
        let valueSize = min(11, max(7, barStep * 0.45))
        let verticalValues = textWidth(formatFixed(values.map { Swift.abs($0) }.max() ?? 0, decimals: valueDecimals), size: valueSize) > barStep
        for (si, ser) in series.enumerated() {
            let colour = chartPalette[si % chartPalette.count]
            for (gi, v) in ser.values.enumerated() where gi < categories.count {
                guard let v, v.isFinite else { continue }
                let x = plot.x + Double(gi) * groupWidth + (groupWidth - inner) / 2 + Double(si) * barStep + (barStep - barWidth) / 2
                let clamped = min(max(v, axis.lo), axis.hi)
                let yv = y(clamped)
                doc.add(##"<rect class="bar" x="\##(num(x))" y="\##(num(min(yv, baseline)))" width="\##(num(barWidth))" height="\##(num(abs(baseline - yv)))" fill="\##(colour)"><title>\##(escapeXML(ser.name)) · \##(escapeXML(categories[gi])): \##(formatFixed(v, decimals: valueDecimals))</title></rect>"##)
                guard showValues else { continue }
                let label = escapeXML(formatFixed(v, decimals: valueDecimals))
                let cx = x + barWidth / 2
                if verticalValues {
                    let ty = v >= 0 ? yv - 4 : yv + 4
                    doc.add(##"<text class="value" x="\##(num(cx))" y="\##(num(ty))" font-size="\##(num(valueSize))" fill="#333333" text-anchor="\##(v >= 0 ? "start" : "end")" dominant-baseline="middle" transform="rotate(-90 \##(num(cx)) \##(num(ty)))">\##(label)</text>"##)
                } else {
                    let ty = v >= 0 ? yv - 4 : yv + valueSize + 2
                    doc.add(##"<text class="value" x="\##(num(cx))" y="\##(num(ty))" font-size="\##(num(valueSize))" fill="#333333" text-anchor="middle">\##(label)</text>"##)
                }
            }
        }
        doc.add(##"<line class="axis" x1="\##(num(plot.x))" y1="\##(num(baseline))" x2="\##(num(plot.maxX))" y2="\##(num(baseline))" stroke="#333333" stroke-width="1"/>"##)
        doc.add(##"<line class="axis" x1="\##(num(plot.x))" y1="\##(num(plot.y))" x2="\##(num(plot.x))" y2="\##(num(plot.maxY))" stroke="#333333" stroke-width="1"/>"##)
        for (gi, name) in shownCategories.enumerated() {
            let cx = plot.x + (Double(gi) + 0.5) * groupWidth
            let ty = plot.maxY + 16
            if rotateLabels {
                doc.add(##"<text class="category" x="\##(num(cx))" y="\##(num(ty))" font-size="12" fill="#333333" text-anchor="end" transform="rotate(-35 \##(num(cx)) \##(num(ty)))">\##(escapeXML(name))\##(name == categories[gi] ? "" : "<title>\(escapeXML(categories[gi]))</title>")</text>"##)
            } else {
                doc.add(##"<text class="category" x="\##(num(cx))" y="\##(num(ty))" font-size="12" fill="#333333" text-anchor="middle">\##(escapeXML(name))</text>"##)
            }
        }
        doc.drawLegend(series.map(\.name), x: width - legendWidth - 8, y: plot.y, asLines: false)
        return doc.finish()
    }
}

/// A line chart of several series over a numeric x axis (e.g. loss against step), optionally
/// with a logarithmic y axis; legend on the right.
///
/// ```swift
/// let chart = LineChart(title: "stage 2 loss", xLabel: "step", yLabel: "loss",
///                       series: [.init(name: "train", points: losses.enumerated().map { (Double($0), $1) })],
///                       logY: true)
/// ```
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// (x, y) pairs in drawing order; non-finite points (and y ≤ 0 on a log axis) break the line.
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
        /// y values at x = 0, 1, 2, …
        public init(name: String, values: [Double]) {
            self.init(name: name, points: values.enumerated().map { (Double($0.offset), $0.element) })
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    public var logY: Bool
    public var width: Double
    public var height: Double

    public init(title: String, xLabel: String = "step", yLabel: String = "loss", series: [Series], logY: Bool = false,
                width: Double = 800, height: Double = 420) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logY = logY
        self.width = width
        self.height = height
    }

    private func usable(_ p: (x: Double, y: Double)) -> Bool {
        p.x.isFinite && p.y.isFinite && (!logY || p.y > 0)
    }

    /// The chart as a standalone SVG document.
    public func svg() -> String {
        var doc = SVGDocument(width: width, height: height, title: title)
        let points = series.flatMap { $0.points.filter(usable) }
        let xAxis = LinearAxis(lo: points.map { $0.x }.min() ?? 0, hi: points.map { $0.x }.max() ?? 1, fixedTop: false, tight: true)
        let ys = points.map { $0.y }
        let yAxis: AxisScale = logY
            ? LogAxis(lo: ys.min() ?? 1, hi: ys.max() ?? 10)
            : LinearAxis(lo: ys.min() ?? 0, hi: ys.max() ?? 1, fixedTop: false)

        let legendWidth = legendColumnWidth(series.map(\.name), chartWidth: width)
        let left = 64.0, right = 16 + legendWidth, top = title.isEmpty ? 20.0 : 44.0, bottom = 52.0
        let plot = Rect(x: left, y: top, width: max(width - left - right, 10), height: max(height - top - bottom, 10))
        let px = { (v: Double) in plot.x + plot.width * xAxis.fraction(v) }
        let py = { (v: Double) in plot.y + plot.height * (1 - yAxis.fraction(v)) }

        doc.drawTitle(title)
        doc.drawYGrid(yAxis.ticks.map { (py($0), yAxis.label($0)) }, plot: plot)
        doc.drawYLabel(yLabel, plot: plot)
        for t in xAxis.ticks {
            let x = px(t)
            doc.add(##"<line class="tick" x1="\##(num(x))" y1="\##(num(plot.maxY))" x2="\##(num(x))" y2="\##(num(plot.maxY + 5))" stroke="#333333" stroke-width="1"/>"##)
            doc.add(##"<text class="tick-label" x="\##(num(x))" y="\##(num(plot.maxY + 18))" font-size="11" fill="#333333" text-anchor="middle">\##(escapeXML(xAxis.label(t)))</text>"##)
        }
        doc.add(##"<line class="axis" x1="\##(num(plot.x))" y1="\##(num(plot.maxY))" x2="\##(num(plot.maxX))" y2="\##(num(plot.maxY))" stroke="#333333" stroke-width="1"/>"##)
        doc.add(##"<line class="axis" x1="\##(num(plot.x))" y1="\##(num(plot.y))" x2="\##(num(plot.x))" y2="\##(num(plot.maxY))" stroke="#333333" stroke-width="1"/>"##)
        if !xLabel.isEmpty {
            doc.add(##"<text class="axis-label" x="\##(num(plot.x + plot.width / 2))" y="\##(num(height - 10))" font-size="12" fill="#333333" text-anchor="middle">\##(escapeXML(xLabel))</text>"##)
        }

        for (si, ser) in series.enumerated() {
            let colour = chartPalette[si % chartPalette.count]
            var d: [String] = []
            var penDown = false
            var drawn: [(Double, Double)] = []
            for p in ser.points {
                guard usable(p) else { penDown = false; continue }
                let q = (px(p.x), py(p.y))
                d.append("\(penDown ? "L" : "M")\(num(q.0)) \(num(q.1))")
                drawn.append(q)
                penDown = true
            }
            doc.add(##"<path class="series" d="\##(d.joined(separator: " "))" fill="none" stroke="\##(colour)" stroke-width="1.75" stroke-linejoin="round" stroke-linecap="round"><title>\##(escapeXML(ser.name))</title></path>"##)
            // A lone point draws no line: mark it.
            if drawn.count == 1 {
                doc.add(##"<circle class="marker" cx="\##(num(drawn[0].0))" cy="\##(num(drawn[0].1))" r="3" fill="\##(colour)"/>"##)
            }
        }
        doc.drawLegend(series.map(\.name), x: width - legendWidth - 8, y: plot.y, asLines: true)
        return doc.finish()
    }
}

// MARK: - drawing helpers

struct Rect {
    var x, y, width, height: Double
    var maxX: Double { x + width }
    var maxY: Double { y + height }
}

protocol AxisScale {
    var ticks: [Double] { get }
    func fraction(_ v: Double) -> Double
    func label(_ v: Double) -> String
}

/// A linear axis spanning round numbers around [lo, hi], with 1-2-2.5-5 tick steps.
struct LinearAxis: AxisScale {
    var lo: Double
    var hi: Double
    var ticks: [Double]
    var decimals: Int

    /// `fixedTop` keeps `hi` as given; `tight` keeps both ends as given (x axes).
    init(lo rawLo: Double, hi rawHi: Double, fixedTop: Bool, tight: Bool = false) {
        var l = rawLo, h = rawHi
        if !(h > l) {
            let pad = l == 0 ? 1 : abs(l) * 0.1
            l -= tight ? 0 : pad
            h = rawLo + pad
        }
        let step = niceStep((h - l) / 5)
        if !tight {
            l = (l / step).rounded(.down) * step
            if !fixedTop { h = (h / step).rounded(.up) * step }
        }
        lo = l
        hi = h
        decimals = decimalsFor(step)
        var t: [Double] = []
        var k = (l / step).rounded(.up)
        while k * step <= h + step * 1e-9 {
            t.append(k * step)
            k += 1
        }
        ticks = t
    }

    func fraction(_ v: Double) -> Double { (v - lo) / (hi - lo) }
    func label(_ v: Double) -> String { formatFixed(v, decimals: decimals) }
}

/// A base-10 logarithmic axis from the decade below the smallest value to the decade above the
/// largest; ticks at powers of ten (and at 2× and 5× when it spans at most two decades).
struct LogAxis: AxisScale {
    var loExp: Double
    var hiExp: Double
    var ticks: [Double]

    init(lo: Double, hi: Double) {
        let l = (log10(max(lo, Double.leastNormalMagnitude))).rounded(.down)
        var h = (log10(max(hi, Double.leastNormalMagnitude))).rounded(.up)
        if h <= l { h = l + 1 }
        loExp = l
        hiExp = h
        var t: [Double] = []
        var e = l
        while e <= h {
            t.append(pow(10, e))
            if h - l <= 2 && e < h { t += [2 * pow(10, e), 5 * pow(10, e)] }
            e += 1
        }
        ticks = t.sorted()
    }

    func fraction(_ v: Double) -> Double { (log10(v) - loExp) / (hiExp - loExp) }

    func label(_ v: Double) -> String {
        let e = Int((log10(v) + 1e-9).rounded(.down))
        if e >= -4 && e <= 5 { return formatFixed(v, decimals: max(0, -e)) }
        let mantissa = v / pow(10, Double(e))
        let m = formatFixed(mantissa, decimals: abs(mantissa - mantissa.rounded()) < 1e-9 ? 0 : 1)
        return "\(m)e\(e)"
    }
}

/// The round step (1, 2, 2.5 or 5 × 10ⁿ) nearest above `raw`.
func niceStep(_ raw: Double) -> Double {
    guard raw > 0, raw.isFinite else { return 1 }
    let magnitude = pow(10, log10(raw).rounded(.down))
    let f = raw / magnitude
    let nice: Double = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10
    return nice * magnitude
}

/// Digits after the point needed to print multiples of `step` exactly.
func decimalsFor(_ step: Double) -> Int {
    for d in 0...10 {
        let scaled = step * pow(10, Double(d))
        if abs(scaled - scaled.rounded()) < 1e-6 * max(1, scaled) { return d }
    }
    return 10
}

/// A coordinate with at most two decimals, trailing zeros removed ("12", "12.5", "12.25").
func num(_ v: Double) -> String {
    var s = formatFixed(v, decimals: 2)
    if s.contains(".") {
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
    }
    return s == "-0" ? "0" : s
}

/// Text escaped for XML content and attribute values.
public func escapeXML(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.count)
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default:
            // Control characters other than tab/newline are not allowed in XML 1.0.
            if let a = ch.asciiValue, a < 0x20, a != 0x09, a != 0x0A, a != 0x0D { out += " " } else { out.append(ch) }
        }
    }
    return out
}

private let sin35 = 0.573576, cos35 = 0.819152

/// `s` shortened with "…" so that its rough width stays within `maxWidth`.
func truncated(_ s: String, toWidth maxWidth: Double, size: Double) -> String {
    if textWidth(s, size: size) <= maxWidth { return s }
    let keep = max(1, Int(maxWidth / (size * 0.58)) - 1)
    return String(s.prefix(keep)) + "…"
}

/// Rough rendered width of `s` in a sans-serif font of `size` px.
func textWidth(_ s: String, size: Double) -> Double { Double(s.count) * size * 0.58 }

func legendColumnWidth(_ names: [String], chartWidth: Double) -> Double {
    guard !names.isEmpty else { return 0 }
    let longest = names.map { textWidth($0, size: 12) }.max() ?? 0
    return min(26 + longest, chartWidth * 0.35)
}

struct SVGDocument {
    var width: Double
    var height: Double
    var lines: [String]

    init(width: Double, height: Double, title: String) {
        self.width = width
        self.height = height
        lines = [
            ##"<?xml version="1.0" encoding="UTF-8"?>"##,
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(num(width))" height="\##(num(height))" viewBox="0 0 \##(num(width)) \##(num(height))" font-family="Helvetica, Arial, sans-serif">"##,
            "<title>\(escapeXML(title))</title>",
            ##"<rect class="background" x="0" y="0" width="\##(num(width))" height="\##(num(height))" fill="#ffffff"/>"##,
        ]
    }

    mutating func add(_ line: String) { lines.append(line) }

    mutating func drawTitle(_ title: String) {
        guard !title.isEmpty else { return }
        add(##"<text class="chart-title" x="\##(num(width / 2))" y="26" font-size="16" font-weight="bold" fill="#222222" text-anchor="middle">\##(escapeXML(title))</text>"##)
    }

    /// Horizontal grid lines with tick labels left of the plot.
    mutating func drawYGrid(_ ticks: [(y: Double, label: String)], plot: Rect) {
        for t in ticks where t.y >= plot.y - 0.5 && t.y <= plot.maxY + 0.5 {
            add(##"<line class="grid" x1="\##(num(plot.x))" y1="\##(num(t.y))" x2="\##(num(plot.maxX))" y2="\##(num(t.y))" stroke="#e0e0e0" stroke-width="1"/>"##)
            add(##"<line class="tick" x1="\##(num(plot.x - 5))" y1="\##(num(t.y))" x2="\##(num(plot.x))" y2="\##(num(t.y))" stroke="#333333" stroke-width="1"/>"##)
            add(##"<text class="tick-label" x="\##(num(plot.x - 8))" y="\##(num(t.y + 4))" font-size="11" fill="#333333" text-anchor="end">\##(escapeXML(t.label))</text>"##)
        }
    }

    mutating func drawYLabel(_ label: String, plot: Rect) {
        guard !label.isEmpty else { return }
        let cy = plot.y + plot.height / 2, x = plot.x - 48
        add(##"<text class="axis-label" x="\##(num(x))" y="\##(num(cy))" font-size="12" fill="#333333" text-anchor="middle" transform="rotate(-90 \##(num(x)) \##(num(cy)))">\##(escapeXML(label))</text>"##)
    }

    mutating func drawLegend(_ names: [String], x: Double, y: Double, asLines: Bool) {
        for (i, name) in names.enumerated() {
            let colour = chartPalette[i % chartPalette.count]
            let rowY = y + Double(i) * 20
            if asLines {
                add(##"<rect class="legend-swatch" x="\##(num(x))" y="\##(num(rowY + 4))" width="16" height="4" fill="\##(colour)"/>"##)
            } else {
                add(##"<rect class="legend-swatch" x="\##(num(x))" y="\##(num(rowY))" width="12" height="12" fill="\##(colour)"/>"##)
            }
            add(##"<text class="legend-label" x="\##(num(x + 22))" y="\##(num(rowY + 10))" font-size="12" fill="#333333">\##(escapeXML(name))</text>"##)
        }
    }

    func finish() -> String { (lines + ["</svg>"]).joined(separator: "\n") + "\n" }
}
