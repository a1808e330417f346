// float16 / bfloat16 storage conversions.

import Testing
import TensorKit

@Suite("f16 / bf16 conversion")
struct DTypeTests {
    func bits(_ t: Tensor) -> [UInt16] {
        let p = t.storage.base.assumingMemoryBound(to: UInt16.self) + t.offset
        return (0..<t.count).map { p[$0] }
    }

    @Test func float16RoundTrip() {
        let tiny = Float(sign: .plus, exponent: -24, significand: 1)          // smallest f16 subnormal
        let sub = Float(sign: .plus, exponent: -20, significand: 1.5)         // 3·2⁻²¹, subnormal in f16
        let src: [Float] = [1, 0.5, -2, 65504, tiny, sub, 0, 1.0 / 3, 2049, 2051, 1e-8, 70000, -65520]
        let h = Tensor(src).to(.float16)
        #expect(h.dtype == .float16 && h.storage.byteCount == src.count * 2)
        #expect(bits(h)[0] == 0x3C00 && bits(h)[1] == 0x3800 && bits(h)[2] == 0xC000 && bits(h)[3] == 0x7BFF)
        #expect(bits(h)[4] == 0x0001 && bits(h)[5] == 0x0018)   // 3·2⁻²¹ = 24·2⁻²⁴
        let back = h.to(.float32).toArray()
        #expect(Array(back[0..<7]) == [1, 0.5, -2, 65504, tiny, sub, 0])
        #expect(back[7] == 0.333251953125)          // nearest f16 to 1/3
        #expect(back[8] == 2048 && back[9] == 2052) // ties to even (spacing 2 above 2048)
        #expect(back[10] == 0)                      // below half the smallest subnormal
        #expect(back[11] == .infinity && back[12] == -.infinity)
        // Element subscripts on half tensors convert the single element.
        #expect(h[3] == 65504 && h[2] == -2 && h[7] == 0.333251953125)
    }

    @Test func bfloat16RoundTrip() {
        let halfway = Float(1) + Float(sign: .plus, exponent: -8, significand: 1)       // 1 + 2⁻⁸
        let halfwayOdd = Float(1) + 3 * Float(sign: .plus, exponent: -8, significand: 1) // 1 + 3·2⁻⁸
        let above = halfway + Float(sign: .plus, exponent: -20, significand: 1)
        let src: [Float] = [1, 0.5, -3, halfway, halfwayOdd, above, 65504, 1e-40, 3.0e38]
        let b = Tensor(src).to(.bfloat16)
        #expect(b.dtype == .bfloat16)
        #expect(bits(b)[0] == 0x3F80 && bits(b)[1] == 0x3F00 && bits(b)[2] == 0xC040)
        let back = b.to(.float32).toArray()
        #expect(Array(back[0..<3]) == [1, 0.5, -3])
        #expect(back[3] == 1)            // tie → even mantissa (1.0)
        #expect(back[4] == 1.015625)     // tie → even mantissa (1 + 2⁻⁶)
        #expect(back[5] == 1.0078125)    // just above the tie → up
        #expect(back[6] == 65536)        // 65504 needs 11 bits of mantissa
        // 1e-40 = 0x000116C2: the low half 0x16C2 < 0x8000 rounds down to 0x0001_0000 (a subnormal).
        #expect(back[7] == Float(bitPattern: 0x0001_0000))
        #expect(Swift.abs(back[8] - 3.0e38) < 3.0e38 * 4e-3)
        #expect(b[4] == 1.015625 && b[0] == 1)   // subscript on a bf16 tensor
        let nan = Tensor([Float.nan]).to(.bfloat16).to(.float32).item()
        #expect(nan.isNaN)
    }

    @Test func conversionOfStridedAndCrossFormats() {
        let m = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let t = m.transposed().to(.float16)
        #expect(t.shape == [3, 2])
        #expect(t.to(.float32).toArray() == [1, 4, 2, 5, 3, 6])
        #expect(t.toArray() == [1, 4, 2, 5, 3, 6])
        let viaBF = t.to(.bfloat16)
        #expect(viaBF.dtype == .bfloat16 && viaBF.toArray() == [1, 4, 2, 5, 3, 6])
        #expect(m.to(.float32) === m)
        var rng = RNG(seed: 9)
        let r = Tensor.randn([1000], rng: &rng)
        let e16 = maxAbsDiff(r.to(.float16).toArray(), r.toArray())
        let e8 = maxAbsDiff(r.to(.bfloat16).toArray(), r.toArray())
        #expect(e16 > 0 && e16 <= 4 * 0.00049)    // ≤ half an ulp (2⁻¹¹ relative) for |x| < 4
        #expect(e8 > e16 && e8 <= 4 * 0.0039)     // bf16 has 8 bits of mantissa
    }
}
