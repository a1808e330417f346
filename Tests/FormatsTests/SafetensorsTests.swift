import Foundation
import Testing
import Formats
import TensorKit

private func tempPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("llm2clip-formats-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}

/// Writes a raw safetensors file from a header string and data bytes.
private func writeRaw(_ path: String, header: String, data: [UInt8], declaredLength: UInt64? = nil) {
    var bytes = [UInt8]()
    var len = (declaredLength ?? UInt64(header.utf8.count)).littleEndian
    withUnsafeBytes(of: &len) { bytes += $0 }
    bytes += Array(header.utf8)
    bytes += data
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}

@Suite struct SafetensorsTests {
    @Test func roundTripKeepsValuesShapesDtypesAndMetadata() throws {
        // Its own folder: other tests write into the shared one concurrently.
        let own = tempPath("roundtrip-dir")
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        let path = own + "/roundtrip.safetensors"
        let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        let h = Tensor([0.5, -2, 65504], shape: [3]).to(.float16)
        let bf = Tensor([1.5, -3], shape: [2]).to(.bfloat16)
        try writeSafetensors(["a": a, "a_t": a.transposed(), "h": h, "bf": bf], to: path, metadata: ["step": "7"])
        let f = try SafetensorsFile(path: path)
        #expect(f.names == ["a", "a_t", "bf", "h"])
        #expect(f.metadata["step"] == "7")
        #expect(try f.tensor("a").toArray() == a.toArray())
        #expect(try f.tensor("a_t").shape == [3, 2])
        #expect(try f.tensor("a_t").toArray() == [1, 4, 2, 5, 3, 6])
        #expect(try f.tensor("h").dtype == .float16)
        #expect(try f.tensor("h").to(.float32).toArray() == [0.5, -2, 65504])
        #expect(try f.tensor("bf").to(.float32).toArray() == [1.5, -3])
        // No temporary file is left behind.
        let dir = (path as NSString).deletingLastPathComponent
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["roundtrip.safetensors"])
    }

    @Test func readsIntegerTensors() throws {
        let path = tempPath("ints.safetensors")
        var data = [UInt8]()
        for v: Int64 in [3, -1, 7] { var x = v.littleEndian; withUnsafeBytes(of: &x) { data += $0 } }
        writeRaw(path, header: #"{"ids":{"dtype":"I64","shape":[3],"data_offsets":[0,24]}}"#, data: data)
        #expect(try SafetensorsFile(path: path).integers("ids") == [3, -1, 7])
    }

    @Test func truncatedFile() {
        let path = tempPath("short.safetensors")
        _ = FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))
        #expect { try SafetensorsFile(path: path) } throws: { e in
            guard case FormatError.truncated(let file, _) = e else { return false }
            return file == path
        }
    }

    @Test func headerLengthBeyondFile() {
        let path = tempPath("longheader.safetensors")
        writeRaw(path, header: "{}", data: [], declaredLength: 1_000_000)
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case FormatError.truncated = e { return true } else { return false }
        }
    }

    @Test func badJSON() {
        let path = tempPath("badjson.safetensors")
        writeRaw(path, header: "{not json", data: [])
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case FormatError.badHeader(let f, _) = e { return f == path } else { return false }
        }
    }

    @Test func offsetsOutsideData() {
        let path = tempPath("offsets.safetensors")
        writeRaw(path, header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0])
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case FormatError.truncated(_, let d) = e { return d.contains("'w'") } else { return false }
        }
    }

    @Test func byteCountMismatch() {
        let path = tempPath("mismatch.safetensors")
        writeRaw(path, header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case FormatError.badTensor(_, let t, _) = e { return t == "w" } else { return false }
        }
    }

    @Test func unsupportedDType() {
        let path = tempPath("dtype.safetensors")
        writeRaw(path, header: #"{"w":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8))
        #expect { try SafetensorsFile(path: path) } throws: { e in
            if case FormatError.unsupportedDType(_, "w", "C64") = e { return true } else { return false }
        }
    }

    @Test func missingTensorNamesTheFile() throws {
        let path = tempPath("one.safetensors")
        try writeSafetensors(["a": Tensor([1], shape: [1])], to: path)
        let f = try SafetensorsFile(path: path)
        #expect(throws: FormatError.missingTensor(file: path, tensor: "b")) { try f.tensor("b") }
    }
}

@Suite struct ShardedSafetensorsTests {
    private func makeFolder(_ name: String, index: [String: String]?) throws -> String {
        let dir = tempPath(name)
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeSafetensors(["a": Tensor([1, 2], shape: [2]), "b": Tensor([3], shape: [1])],
                             to: dir + "/model-00001-of-00002.safetensors")
        try writeSafetensors(["c": Tensor([4, 5, 6], shape: [3])], to: dir + "/model-00002-of-00002.safetensors")
        if let index {
            let json = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 24], "weight_map": index])
            _ = FileManager.default.createFile(atPath: dir + "/model.safetensors.index.json", contents: json)
        }
        return dir
    }

    @Test func readsShardsThroughTheIndex() throws {
        let dir = try makeFolder("sharded", index: ["a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors",
                                                    "c": "model-00002-of-00002.safetensors"])
        let src = try SafetensorsFolder(path: dir)
        #expect(src.tensorNames == ["a", "b", "c"])
        #expect(try src.tensor("c").toArray() == [4, 5, 6])
        #expect(src.describe("a")?.shape == [2])
        #expect(src.files.count == 2)
    }

    @Test func indexNamingAMissingShard() throws {
        let dir = try makeFolder("badindex", index: ["a": "model-00001-of-00002.safetensors", "c": "model-00003-of-00003.safetensors"])
        #expect { try SafetensorsFolder(path: dir) } throws: { e in
            guard case FormatError.cannotOpen(let f, _) = e else { return false }
            return f.hasSuffix("model-00003-of-00003.safetensors")
        }
    }

    @Test func indexNamingAMissingTensor() throws {
        let dir = try makeFolder("ghost", index: ["a": "model-00001-of-00002.safetensors", "ghost": "model-00002-of-00002.safetensors"])
        #expect { try SafetensorsFolder(path: dir) } throws: { e in
            guard case FormatError.missingTensor(_, let t) = e else { return false }
            return t == "ghost"
        }
    }

    @Test func folderWithoutIndexUsesEveryShard() throws {
        let dir = try makeFolder("noindex", index: nil)
        #expect(try SafetensorsFolder(path: dir).tensorNames == ["a", "b", "c"])
    }

    @Test func emptyFolderIsAnError() throws {
        let dir = tempPath("empty-folder")
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect { try SafetensorsFolder(path: dir) } throws: { e in
            guard case FormatError.cannotOpen(let f, _) = e else { return false }
            return f == dir
        }
    }
}
