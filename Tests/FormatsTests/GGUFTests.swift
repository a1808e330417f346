import Foundation
import Testing
import Formats
import TensorKit

private let goldens = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Goldens/gguf")

private func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-gguf-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

private func goldenBytes() throws -> [UInt8] {
    [UInt8](try Data(contentsOf: goldens.appendingPathComponent("blocks-v3.gguf")))
}

private func write(_ bytes: [UInt8], _ name: String) -> String {
    let p = tempPath(name)
    _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
    return p
}

@Suite struct GGUFTests {
    @Test(arguments: ["blocks-v3.gguf", "blocks-v2.gguf"])
    func metadataOfEveryValueType(file: String) throws {
        let g = try GGUFFile(path: goldens.appendingPathComponent(file).path)
        #expect(g.version == (file.contains("v2") ? 2 : 3))
        let m = g.metadata
        #expect(m["general.architecture"]?.string == "llama")
        #expect(m["test.u8"] == .uint8(200))
        #expect(m["test.i8"] == .int8(-100))
        #expect(m["test.u16"] == .uint16(60000))
        #expect(m["test.i16"] == .int16(-30000))
        #expect(m["test.u32"] == .uint32(4_000_000_000))
        #expect(m["test.i32"] == .int32(-2_000_000_000))
        #expect(m["test.f32"] == .float32(1.5))
        #expect(m["test.bool"] == .bool(true))
        #expect(m["test.string"]?.string == "héllo ✓")
        #expect(m["test.u64"] == .uint64(1 << 60))
        #expect(m["test.i64"] == .int64(-(1 << 60)))
        #expect(m["test.f64"]?.double == 0.1)
        #expect(m["test.strings"]?.strings == ["a", "bc", "<|im_end|>"])
        #expect(m["test.ints"]?.ints == [1, -2, 3])
        #expect(m["test.floats"]?.array?.compactMap(\.double) == [0.5, 0.25])
        #expect(g.metadataKeys.first == "general.architecture")
    }

    /// Every supported tensor type dequantises exactly as gguf-py does.
    @Test func dequantisationMatchesReference() throws {
        let g = try GGUFFile(path: goldens.appendingPathComponent("blocks-v3.gguf").path)
        let expected = try SafetensorsFile(path: goldens.appendingPathComponent("expected.safetensors").path)
        #expect(Set(expected.names) == Set(g.names))
        for name in expected.names {
            let info = try #require(g.info(name))
            #expect(info.shape == [2, 512], "\(name)")
            let ours = try g.tensor(name).to(.float32).toArray()
            let ref = try expected.tensor(name).toArray()
            var worst: Float = 0
            for (a, b) in zip(ours, ref) { worst = max(worst, abs(a - b)) }
            #expect(worst <= 1e-6 * max(1, ref.map(abs).max() ?? 1), "\(name) (\(info.type.name)) differs by \(worst)")
        }
    }

    @Test func badMagic() throws {
        var b = try goldenBytes()
        b[0] = UInt8(ascii: "X")
        let p = write(b, "magic.gguf")
        #expect { try GGUFFile(path: p) } throws: { e in
            guard case FormatError.badHeader(let f, let d) = e else { return false }
            return f == p && d.contains("not a GGUF")
        }
    }

    @Test func unsupportedVersion() throws {
        var b = try goldenBytes()
        b[4] = 7
        let p = write(b, "version.gguf")
        #expect { try GGUFFile(path: p) } throws: { e in
            guard case FormatError.badHeader(_, let d) = e else { return false }
            return d.contains("version 7")
        }
    }

    @Test func truncatedInMetadata() throws {
        let b = try goldenBytes()
        let p = write(Array(b.prefix(100)), "short.gguf")
        #expect { try GGUFFile(path: p) } throws: { e in
            guard case FormatError.truncated(let f, _) = e else { return false }
            return f == p
        }
    }

    @Test func truncatedTensorData() throws {
        let b = try goldenBytes()
        let p = write(Array(b.dropLast(100)), "cut.gguf")
        #expect { try GGUFFile(path: p) } throws: { e in
            guard case FormatError.truncated(_, let d) = e else { return false }
            return d.contains("q6_k") || d.contains("tensor")
        }
    }

    @Test func unknownTensorTypeNamesTheTensor() throws {
        var b = try goldenBytes()
        // The tensor table entry of "f32": name, n_dims (u32 = 2), dims (2 × u64), type (u32).
        let name = Array("f32".utf8)
        var at = -1
        for i in 0..<(b.count - 16) where b[i..<(i + 8)].elementsEqual([3, 0, 0, 0, 0, 0, 0, 0]) && b[(i + 8)..<(i + 11)].elementsEqual(name) {
            at = i + 11
            break
        }
        try #require(at > 0)
        let typeAt = at + 4 + 16
        b[typeAt] = 99
        let p = write(b, "type.gguf")
        #expect { try GGUFFile(path: p) } throws: { e in
            guard case FormatError.unsupportedDType(_, let t, _) = e else { return false }
            return t == "f32"
        }
    }

    @Test func missingTensor() throws {
        let g = try GGUFFile(path: goldens.appendingPathComponent("blocks-v3.gguf").path)
        #expect(throws: FormatError.missingTensor(file: g.path, tensor: "nope")) { try g.tensor("nope") }
    }
}

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex(of: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(of: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(of: [UInt8](repeating: 0x61, count: 1_000_000)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalEqualsOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = SHA256()
        for chunk in stride(from: 0, to: bytes.count, by: 37) { h.update(bytes[chunk..<min(bytes.count, chunk + 37)]) }
        #expect(h.hexDigest() == SHA256.hex(of: bytes))
    }
}
