// Shared helpers for the TensorKit tests: finite-difference gradient checking, golden-file
// loading and tolerance comparisons.
//
// Why these gradient-check tolerances
// -----------------------------------
// The numeric gradient is a central difference (L(x+h) - L(x-h)) / 2h of the scalar loss
// L = Σ f(x)·r, with f evaluated by the engine in float32. Its error has two parts:
//   * truncation error O(h²·|L'''|): with h = 1e-2 and smooth, O(1)-scaled inputs this is
//     ~1e-4 relative, so h cannot be much larger;
//   * rounding error O(eps_f32·|L|/h): every evaluation of f is rounded to float32
//     (eps ≈ 6e-8), and dividing the difference of two rounded losses by 2h amplifies it by
//     1/h — for |L| ≈ 10–100 and h = 1e-2 that is ~1e-4…1e-3 absolute, so h cannot be much
//     smaller either.
// h ≈ 1e-2 balances the two. We compare each element with |a − n| ≤ atol + rtol·|n| where
// rtol = 1e-2 and atol = 2e-3·scale (scale = max(1, max |n| over that input)), which is
// comfortably above both error terms but far below the O(1) discrepancy a wrong derivative
// (a missing factor, a sign error, a wrong broadcast reduction) produces. The loss itself is
// accumulated in Double so that only f's own float32 rounding enters the difference.
// Non-smooth ops (relu, abs, clamp, max, maximum, minimum) are tested at inputs kept well
// away from their kinks (|x| > 0.1, distinct values), where the central difference is exact
// up to the same errors.

import Foundation
import Testing
import TensorKit
import Formats

// MARK: - small utilities

func makeRandn(_ shape: [Int], seed: UInt64, std: Float = 1, mean: Float = 0) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.randn(shape, mean: mean, std: std, rng: &rng)
}

func makeUniform(_ shape: [Int], seed: UInt64, low: Float, high: Float) -> Tensor {
    var rng = RNG(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, rng: &rng)
}

/// Random values whose magnitude is in [minAbs, maxAbs] with random signs (away from 0 kinks).
func awayFromZero(_ shape: [Int], seed: UInt64, minAbs: Float = 0.2, maxAbs: Float = 2) -> Tensor {
    var rng = RNG(seed: seed)
    let n = shape.reduce(1, *)
    var v = [Float]()
    for _ in 0..<n {
        let m = minAbs + (maxAbs - minAbs) * rng.nextFloat()
        v.append(rng.nextFloat() < 0.5 ? -m : m)
    }
    return Tensor(v, shape: shape)
}

/// Distinct values, pairwise at least `gap` apart, randomly permuted, in a shuffled order.
func distinctValues(_ shape: [Int], seed: UInt64, gap: Float = 0.15) -> Tensor {
    var rng = RNG(seed: seed)
    let n = shape.reduce(1, *)
    var v = (0..<n).map { Float($0) * gap - Float(n) * gap / 2 + gap / 3 }
    v.shuffle(using: &rng)
    return Tensor(v, shape: shape)
}

func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { Swift.max($0, Swift.abs($1)) } }

func maxAbsDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in 0..<a.count {
        let d = Swift.abs(a[i] - b[i])
        if d.isNaN { return .infinity }
        m = Swift.max(m, d)
    }
    return m
}

/// Expects `max |actual − expected| ≤ rel · max(1, max |expected|)` and equal shapes.
func expectClose(_ actual: Tensor, _ expected: Tensor, rel: Float = 1e-4, _ what: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)",
            sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let a = actual.toArray(), b = expected.toArray()
    let tol = rel * Swift.max(1, maxAbs(b))
    let d = maxAbsDiff(a, b)
    #expect(d <= tol, "\(what): max |diff| \(d) > tol \(tol)", sourceLocation: sourceLocation)
}

func expectClose(_ actual: [Float], _ expected: [Float], tol: Float, _ what: String = "",
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.count == expected.count, "\(what): count \(actual.count) vs \(expected.count)",
            sourceLocation: sourceLocation)
    guard actual.count == expected.count else { return }
    let d = maxAbsDiff(actual, expected)
    #expect(d <= tol, "\(what): max |diff| \(d) > tol \(tol); got \(actual.prefix(8)) want \(expected.prefix(8))",
            sourceLocation: sourceLocation)
}

/// A fresh, owned, contiguous float32 copy (no graph, no shared storage).
func fresh(_ t: Tensor) -> Tensor { Tensor(t.toArray(), shape: t.shape) }

// MARK: - gradient check

struct GradCheckReport {
    var worst: Float = 0          // worst |a-n| / (atol + rtol|n|); ≤ 1 passes
    var failures: [String] = []
}

/// Finite-difference gradient check of `f` at `inputs`.
///
/// Every input is treated as differentiable. Loss = Σ f(x)·r for a fixed random r; the analytic
/// gradient of each input (via `backward`) is compared element-by-element with the central
/// difference of the loss. Returns a report; also records `#expect` failures.
@discardableResult
func gradCheck(_ inputs: [Tensor], h: Float = 1e-2, rtol: Float = 1e-2, atolScale: Float = 2e-3,
               seed: UInt64 = 12345, _ what: String = "",
               sourceLocation: SourceLocation = #_sourceLocation,
               _ f: ([Tensor]) -> Tensor) -> GradCheckReport {
    var report = GradCheckReport()
    let base: [[Float]] = inputs.map { $0.toArray() }
    let shapes = inputs.map { $0.shape }

    // Analytic gradients.
    let leaves = zip(base, shapes).map { Tensor($0, shape: $1).requiringGrad() }
    let out = f(leaves)
    #expect(out.requiresGrad, "\(what): output does not require grad", sourceLocation: sourceLocation)
    let r = makeRandn(out.shape, seed: seed)
    let rv = r.toArray()
    let loss = (out * r).sum()
    loss.backward()
    let analytic: [[Float]?] = leaves.map { $0.grad?.toArray() }

    func lossAt(_ xs: [[Float]]) -> Double {
        withNoGrad {
            let ts = zip(xs, shapes).map { Tensor($0, shape: $1) }
            let o = f(ts).toArray()
            var s = 0.0
            for i in 0..<o.count { s += Double(o[i]) * Double(rv[i]) }
            return s
        }
    }

    for (i, x0) in base.enumerated() {
        guard let a = analytic[i] else {
            report.failures.append("input \(i): no gradient")
            Issue.record("\(what): input \(i) got no gradient", sourceLocation: sourceLocation)
            continue
        }
        if a.count != x0.count {
            Issue.record("\(what): input \(i) gradient has \(a.count) elements, expected \(x0.count)",
                         sourceLocation: sourceLocation)
            continue
        }
        var numeric = [Float](repeating: 0, count: x0.count)
        var xs = base
        for j in 0..<x0.count {
            xs[i][j] = x0[j] + h
            let lp = lossAt(xs)
            xs[i][j] = x0[j] - h
            let lm = lossAt(xs)
            xs[i][j] = x0[j]
            numeric[j] = Float((lp - lm) / (2 * Double(h)))
        }
        let scale = Swift.max(1, maxAbs(numeric))
        let atol = atolScale * scale
        for j in 0..<x0.count {
            let err = Swift.abs(a[j] - numeric[j])
            let allowed = atol + rtol * Swift.abs(numeric[j])
            let ratio = err.isNaN ? .infinity : err / allowed
            report.worst = Swift.max(report.worst, ratio)
            if !(err <= allowed) && report.failures.count < 5 {
                report.failures.append("input \(i)[\(j)]: analytic \(a[j]) numeric \(numeric[j])")
            }
        }
    }
    if ProcessInfo.processInfo.environment["GRADCHECK_VERBOSE"] != nil {
        print("gradcheck \(what): worst error/allowed = \(report.worst)")
    }
    #expect(report.failures.isEmpty, "\(what) gradcheck failed: \(report.failures)", sourceLocation: sourceLocation)
    return report
}

// MARK: - goldens

func goldenURL(_ name: String) -> URL {
    URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()   // TensorKitTests
        .deletingLastPathComponent()   // Tests
        .appendingPathComponent("Goldens/engine/\(name)")
}

struct Golden {
    let file: SafetensorsFile
    init(_ name: String) throws { file = try SafetensorsFile(path: goldenURL(name).path) }
    /// An owned float32 copy of a stored tensor.
    func t(_ name: String) throws -> Tensor { fresh(try file.tensor(name)) }
    func ints(_ name: String) throws -> [Int] { try file.tensor(name).toArray().map { Int($0.rounded()) } }
}
