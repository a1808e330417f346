import TensorKit

/// Why an evaluation could not run: inputs of the wrong shape or labels out of range.
public enum EvaluationError: Error, Equatable, CustomStringConvertible {
    /// The inputs do not fit together; the message names what and how.
    case invalidInput(String)

    public var description: String {
        switch self {
        case .invalidInput(let message): return "evaluation: \(message)"
        }
    }
}

/// A dense row-major float32 matrix read out of a tensor: the form the metrics work on.
struct FloatMatrix {
    var rows: Int
    var cols: Int
    var data: [Float]

    /// Reads a rank-2 tensor (any dtype, any layout); `what` names it in errors.
    init(_ tensor: Tensor, _ what: String) throws {
        guard tensor.rank == 2 else {
            throw EvaluationError.invalidInput("\(what) must be a matrix [count, dim], got shape \(tensor.shape)")
        }
        rows = tensor.shape[0]
        cols = tensor.shape[1]
        data = tensor.toArray()
    }

    init(rows: Int, cols: Int, data: [Float]) {
        self.rows = rows
        self.cols = cols
        self.data = data
    }

    /// Each row divided by its Euclidean norm (accumulated in Double, in index order, so that
    /// equal rows stay bitwise equal); all-zero rows stay zero.
    func rowNormalized() -> FloatMatrix {
        var out = data
        out.withUnsafeMutableBufferPointer { p in
            for r in 0..<rows {
                let base = r * cols
                var ss = 0.0
                for c in 0..<cols { let v = Double(p[base + c]); ss += v * v }
                let norm = ss.squareRoot()
                if norm > 0 {
                    for c in 0..<cols { p[base + c] = Float(Double(p[base + c]) / norm) }
                }
            }
        }
        return FloatMatrix(rows: rows, cols: cols, data: out)
    }

    var tensor: Tensor { Tensor(data, shape: [rows, cols]) }
}

/// Calls `body` with the float32 elements of a freshly computed contiguous tensor, without a copy.
@inline(__always)
func withElements<R>(_ t: Tensor, _ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
    let c = t.isContiguous && t.dtype == .float32 ? t : t.to(.float32).contiguous()
    return try withExtendedLifetime(c) { try body(UnsafePointer(c.fptr)) }
}

/// 0-based rank of `index` in a list ordered by score (descending), ties broken by lower index
/// first: the number of entries that come before it.
@inline(__always)
func rankOf(_ index: Int, in scores: UnsafePointer<Float>, count: Int) -> Int {
    let s = scores[index]
    var rank = 0
    for t in 0..<index where scores[t] >= s { rank += 1 }
    for t in (index + 1)..<max(count, index + 1) where scores[t] > s { rank += 1 }
    return rank
}

/// Median of the values (mean of the two middle ones for an even count); 0 for none.
func median(_ values: [Int]) -> Double {
    if values.isEmpty { return 0 }
    let s = values.sorted()
    let n = s.count
    return n % 2 == 1 ? Double(s[n / 2]) : (Double(s[n / 2 - 1]) + Double(s[n / 2])) / 2
}

extension FloatMatrix {
    /// The distinct rows (bitwise, with −0 read as +0) and, for every row, the index of its
    /// distinct row. Scores computed from the distinct rows make identical embeddings score
    /// identically wherever they sit in a GEMM (BLAS kernels may round differently at different
    /// positions). When all rows are distinct the matrix itself is returned.
    func distinctRows() -> (rows: FloatMatrix, index: [Int]) {
        var buckets: [UInt64: [Int]] = [:]
        var index = [Int](repeating: 0, count: rows)
        var keep: [Int] = []
        data.withUnsafeBufferPointer { p in
            func bits(_ v: Float) -> UInt32 { v == 0 ? 0 : v.bitPattern }
            func same(_ a: Int, _ b: Int) -> Bool {
                for c in 0..<cols where bits(p[a * cols + c]) != bits(p[b * cols + c]) { return false }
                return true
            }
            for r in 0..<rows {
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                for c in 0..<cols { h = (h ^ UInt64(bits(p[r * cols + c]))) &* 0x0000_0100_0000_01b3 }
                if let candidates = buckets[h], let hit = candidates.first(where: { same(keep[$0], r) }) {
                    index[r] = hit
                } else {
                    index[r] = keep.count
                    buckets[h, default: []].append(keep.count)
                    keep.append(r)
                }
            }
        }
        if keep.count == rows { return (self, index) }
        var out = [Float](repeating: 0, count: keep.count * cols)
        for (u, r) in keep.enumerated() {
            for c in 0..<cols { out[u * cols + c] = data[r * cols + c] == 0 ? 0 : data[r * cols + c] }
        }
        return (FloatMatrix(rows: keep.count, cols: cols, data: out), index)
    }
}
