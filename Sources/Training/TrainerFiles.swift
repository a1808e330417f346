import Foundation
import Formats
import NeuralNet
import TensorKit

/// The on-disk conventions the stage-1 trainers share: `metrics.jsonl` (one sorted-keys JSON
/// object per line) and `checkpoint/` (adapter in PEFT layout, `optimizer.safetensors`,
/// `trainer.json` with the step and the settings), replaced atomically.
enum TrainerFiles {
    /// Appends one record to `directory/metrics.jsonl`.
    static func appendMetrics<R: Encodable>(_ record: R, directory: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var line = try enc.encode(record)
        line.append(0x0A)
        let path = (directory as NSString).appendingPathComponent("metrics.jsonl")
        if let fh = FileHandle(forWritingAtPath: path) {
            defer { try? fh.close() }
            try fh.seekToEnd()
            try fh.write(contentsOf: line)
        } else {
            try line.write(to: URL(fileURLWithPath: path))
        }
    }

    /// Writes the adapter, the optimizer state and the step atomically (a new folder renamed over the old one).
    static func saveCheckpoint<C: Encodable>(model: Module, lora: LoRAConfig, optimizer: AdamW, step: Int, config: C,
                                             to checkpointDir: String) throws {
        try saveCheckpoint(optimizer: optimizer, step: step, config: config, to: checkpointDir) { tmp in
            try LoRA.saveAdapter(of: model, config: lora, to: tmp)
        }
    }

    /// The same layout with any weights: `writeWeights` fills the new folder before the optimizer
    /// state and `trainer.json` join it and it replaces the old checkpoint.
    static func saveCheckpoint<C: Encodable>(optimizer: AdamW, step: Int, config: C, to checkpointDir: String,
                                             writeWeights: (String) throws -> Void) throws {
        let tmp = checkpointDir + ".tmp-\(getpid())"
        try? FileManager.default.removeItem(atPath: tmp)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try writeWeights(tmp)
        try writeSafetensors(optimizer.stateTensors(), to: (tmp as NSString).appendingPathComponent("optimizer.safetensors"))
        let state: [String: Any] = ["step": step, "config": String(decoding: try JSONEncoder().encode(config), as: UTF8.self)]
        try JSONSerialization.data(withJSONObject: state, options: [.sortedKeys])
            .write(to: URL(fileURLWithPath: (tmp as NSString).appendingPathComponent("trainer.json")))
        let old = checkpointDir + ".old-\(getpid())"
        if FileManager.default.fileExists(atPath: checkpointDir) { try FileManager.default.moveItem(atPath: checkpointDir, toPath: old) }
        try FileManager.default.moveItem(atPath: tmp, toPath: checkpointDir)
        try? FileManager.default.removeItem(atPath: old)
    }

    /// Restores adapter and optimizer state from `checkpointDir` when it holds a checkpoint;
    /// returns its step (nil when there is none). `sameSettings` sees the saved settings (JSON)
    /// and says whether they are compatible with the current ones.
    static func resume(model: Module, optimizer: AdamW, from checkpointDir: String,
                       sameSettings: (Data) -> Bool) throws -> Int? {
        let trainerPath = (checkpointDir as NSString).appendingPathComponent("trainer.json")
        guard let data = FileManager.default.contents(atPath: trainerPath),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: Any], let s = json["step"] as? Int else { return nil }
        if let c = json["config"] as? String, !sameSettings(Data(c.utf8)) {
            throw TrainingError.data("\(checkpointDir) was written with different settings; use another --out or the same settings to resume")
        }
        // Adapter weights into the already-applied adapters.
        let file = try SafetensorsFile(path: (checkpointDir as NSString).appendingPathComponent("adapter_model.safetensors"))
        let params = Dictionary(uniqueKeysWithValues: model.namedParameters())
        for name in file.names {
            let key = String(name.dropFirst("base_model.model.".count))
            guard let p = params[key] else { throw TrainingError.data("checkpoint tensor \(name) has no place in the model") }
            p.assign(try file.tensor(name))
        }
        try loadOptimizer(optimizer, from: checkpointDir)
        return s
    }

    /// Restores `checkpointDir/optimizer.safetensors` into `optimizer`.
    static func loadOptimizer(_ optimizer: AdamW, from checkpointDir: String) throws {
        let opt = try SafetensorsFile(path: (checkpointDir as NSString).appendingPathComponent("optimizer.safetensors"))
        var state: [String: Tensor] = [:]
        for n in opt.names { state[n] = try opt.tensor(n) }
        try optimizer.loadState(state)
    }
}
