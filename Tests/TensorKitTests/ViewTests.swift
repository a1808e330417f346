// Views, aliasing, contiguity and broadcasting rules.

import Foundation
import Testing
import TensorKit

@Suite("Views and aliasing")
struct ViewTests {
    let base = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])

    @Test func viewsShareStorage() {
        let r = base.reshape([6, 4])
        let p = base.permute([2, 0, 1])
        let t = base.transposed(0, 2)
        let s = base.slice(axis: 1, 1, 3)
        let e = Tensor([1, 2, 3], shape: [3, 1]).expand([2, 3, 5])
        for v in [r, p, t, s] { #expect(v.storage === base.storage) }
        #expect(r.isContiguous && !p.isContiguous && !t.isContiguous && !s.isContiguous)
        #expect(p.shape == [4, 2, 3] && p.strides == [1, 12, 4])
        #expect(s.shape == [2, 2, 4] && s.offset == 4 && s.strides == base.strides)
        #expect(e.strides == [0, 1, 0] && e.storage.byteCount == 3 * 4)
        #expect(e[1, 2, 4] == 3 && e[0, 0, 3] == 1)
        #expect(p[3, 1, 2] == base[1, 2, 3] && t[3, 2, 1] == base[1, 2, 3] && s[1, 0, 2] == base[1, 1, 2])
        let sp = base.split([1, 3], axis: 2)
        let ch = base.chunk(2, axis: 0)
        for v in sp + ch { #expect(v.storage === base.storage) }
        #expect(ch[1][0, 2, 3] == 23)
        #expect(base.unsqueeze(0).storage === base.storage && base.unsqueeze(1).shape == [2, 1, 3, 4])
        #expect(base.flatten().storage === base.storage && base.flatten().shape == [24])
    }

    @Test func contiguousCopiesOnlyWhenNeeded() {
        #expect(base.contiguous() === base)
        let p = base.permute([1, 0, 2])
        let c = p.contiguous()
        #expect(c.storage !== base.storage && c.isContiguous)
        #expect(c.toArray() == p.toArray())
        #expect(c.toArray() == [0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23])
        // A slice along the first axis is still dense.
        let s0 = base.slice(axis: 0, 1, 2)
        #expect(s0.isContiguous && s0.contiguous() === s0)
        // Reshaping a non-contiguous view must copy; reshaping to the same shape is a no-op.
        #expect(p.reshape([-1]).storage !== base.storage)
        #expect(base.reshape([2, 3, 4]) === base)
        // copy() always copies.
        let cp = base.copy()
        #expect(cp.storage !== base.storage && cp.toArray() == base.toArray())
        // Size-1 dims don't break contiguity.
        #expect(Tensor.zeros([3, 1, 4]).permute([1, 0, 2]).isContiguous)
    }

    @Test func writesThroughBaseAreVisibleInViews() {
        let b = Tensor((0..<12).map(Float.init), shape: [3, 4])
        let s = b.slice(axis: 1, 1, 3)
        let t = b.transposed()
        b.fptr[5] = 100   // element [1, 1]
        #expect(s[1, 0] == 100)
        #expect(t[1, 1] == 100)
        s.fptr[0] = -7    // s's first element is b[0, 1]
        #expect(b[0, 1] == -7)
        let c = b.contiguous()       // already dense: same tensor
        b.fptr[0] = 42
        #expect(c[0, 0] == 42)
        let copied = t.contiguous()  // a real copy: later writes don't show
        b.fptr[1] = 55
        #expect(copied[1, 0] == -7)
    }

    @Test func broadcastShapeRules() {
        #expect(broadcastShapes([3, 1], [4]) == [3, 4])
        #expect(broadcastShapes([2, 1, 4], [3, 1]) == [2, 3, 4])
        #expect(broadcastShapes([], [2, 2]) == [2, 2])
        #expect(broadcastShapes([5, 1, 1], [1, 6, 1]) == [5, 6, 1])
        let a = Tensor([10, 20, 30], shape: [3, 1])
        let b = Tensor([1, 2, 3, 4], shape: [4])
        let c = a + b
        #expect(c.shape == [3, 4])
        #expect(c.toArray() == [11, 12, 13, 14, 21, 22, 23, 24, 31, 32, 33, 34])
        #expect((a * b)[2, 3] == 120 && (b - a)[1, 0] == -19 && (a / b)[0, 3] == 2.5)
        #expect((Tensor.scalar(2) * b).toArray() == [2, 4, 6, 8])
        // Operations on strided views read them correctly.
        let m = Tensor((0..<6).map(Float.init), shape: [2, 3])
        #expect((m.transposed() + Tensor([100, 200], shape: [2])).toArray() == [100, 203, 101, 204, 102, 205])
        expectClose(m.transposed().exp().toArray(), [0, 3, 1, 4, 2, 5].map { Float(Foundation.exp(Double($0))) },
                    tol: 2e-5 * 150, "exp of a transposed view")
    }

    @Test func sumToReducesBroadcastDims() {
        let g = Tensor.ones([2, 3, 4])
        #expect(g.sumTo([3, 1]).toArray() == [8, 8, 8])
        #expect(g.sumTo([4]).toArray() == [6, 6, 6, 6])
        #expect(g.sumTo([1, 1, 1]).toArray() == [24])
    }

    @Test func reductionsValues() {
        let x = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])
        #expect(x.sum().item() == 276)
        let colSums: [Float] = (0..<12).map { i -> Float in Float(2 * i + 12) }
        #expect(x.sum(axis: 0).toArray() == colSums)
        #expect(x.sum(axes: [0, 2]).toArray() == [60, 92, 124])
        #expect(x.sum(axis: 1, keepDims: true).shape == [2, 1, 4])
        #expect(x.mean(axis: -1).toArray() == [1.5, 5.5, 9.5, 13.5, 17.5, 21.5])
        #expect(x.max(axis: 1).toArray() == [8, 9, 10, 11, 20, 21, 22, 23])
        #expect(x.max().item() == 23)
        // sum over a strided view
        #expect(x.permute([2, 1, 0]).sum(axis: 0).toArray() == x.sum(axis: 2).transposed().toArray())
        let l = Tensor([0, 0, 0, 0], shape: [1, 4]).logsumexp(axis: -1).item()
        #expect(Swift.abs(l - Float(Foundation.log(4.0))) < 1e-6)
        // max gradient is shared among ties
        let t = Tensor([1, 3, 3, 2], shape: [4]).requiringGrad()
        t.max().backward()
        #expect(t.grad!.toArray() == [0, 0.5, 0.5, 0])
    }

    @Test func matmulValues() {
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let b = Tensor([7, 8, 9, 10, 11, 12], shape: [3, 2])
        #expect(matmul(a, b).toArray() == [58, 64, 139, 154])
        #expect(matmul(b.transposed(), a.transposed()).toArray() == [58, 139, 64, 154])
        let w = Tensor([1, 0, -1, 2, 1, 0], shape: [2, 3])
        #expect(linear(a, weight: w, bias: Tensor([10, 20])).toArray() == [8, 24, 8, 33])
        // Sliced (ld > cols) operand.
        let wide = Tensor((0..<12).map(Float.init), shape: [3, 4])
        #expect(matmul(a, wide.slice(axis: 1, 1, 3)).toArray() == matmul(a, wide.slice(axis: 1, 1, 3).contiguous()).toArray())
    }
}

