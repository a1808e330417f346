import Foundation

/// A progress bar on standard error: count, rate and ETA, redrawn at most ten times a second.
/// When standard error is not a terminal it prints a line every 10% instead.
final class ProgressBar {
    var total: Int
    let label: String
    let unit: String
    private let start = Date()
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    private let tty = isatty(2) != 0
    private(set) var done = 0
    /// Extra text shown after the counts (a loss, for example).
    var detail = ""

    init(total: Int, label: String, unit: String = "items") {
        self.total = max(total, 0)
        self.label = label
        self.unit = unit
    }

    func update(_ done: Int) {
        self.done = done
        let now = Date()
        if tty {
            guard now.timeIntervalSince(lastDraw) >= 0.1 || done >= total else { return }
            lastDraw = now
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line(now)).utf8))
            if done >= total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            let decile = total == 0 ? 10 : done * 10 / total
            guard decile > lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write(Data((line(now) + "\n").utf8))
        }
    }

    private func line(_ now: Date) -> String {
        let elapsed = now.timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let frac = total == 0 ? 1 : Double(done) / Double(total)
        let width = 24
        let filled = Int(frac * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let eta = rate > 0 ? Double(total - done) / rate : 0
        var s = "\(label) [\(bar)] \(done)/\(total) \(unit) " + String(format: "%.1f %@/s", rate, unit)
        s += done < total ? " ETA \(formatDuration(eta))" : " in \(formatDuration(elapsed))"
        if !detail.isEmpty { s += " " + detail }
        return s
    }
}

func formatDuration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s < 60 { return "\(s)s" }
    if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s / 3600)h\(String(format: "%02d", s / 60 % 60))m"
}

/// Prints a JSON object on one line (sorted keys) to standard output.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// A failure while doing the work (as opposed to a usage error): printed as `Error: …` without
/// the usage text, exit status 1.
struct CommandFailure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
