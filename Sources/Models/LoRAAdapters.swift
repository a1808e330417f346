import Foundation
import Formats
import NeuralNet
import TensorKit

/// Reading and writing LoRA adapters in PEFT's folder layout (`adapter_model.safetensors` +
/// `adapter_config.json`), so adapters move between this project and Python `peft`.
extension LoRA {
    /// Writes `adapter_model.safetensors` and `adapter_config.json` (PEFT's layout) atomically.
    public static func saveAdapter(of module: Module, config: LoRAConfig, to directory: String,
                                   baseModel: String = "", taskType: String = "FEATURE_EXTRACTION") throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try writeSafetensors(adapterState(of: module), to: (directory as NSString).appendingPathComponent("adapter_model.safetensors"),
                             metadata: ["format": "pt"])
        var json: [String: Any] = [
            "peft_type": "LORA", "r": config.rank, "lora_alpha": config.alpha, "lora_dropout": config.dropout,
            "target_modules": config.targetModules, "bias": "none", "task_type": taskType,
            "base_model_name_or_path": baseModel, "fan_in_fan_out": false, "inference_mode": true,
            "init_lora_weights": true, "use_rslora": false, "use_dora": false,
        ]
        if let layers = config.layers { json["layers_to_transform"] = layers; json["layers_pattern"] = "layers" }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys])
        let path = (directory as NSString).appendingPathComponent("adapter_config.json")
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data), rename(tmp, path) == 0 else {
            throw LoRAError.badAdapter(file: path, detail: "could not write")
        }
    }

    /// Reads a PEFT LoRA adapter folder, adds adapters to the matching layers and loads their weights.
    @discardableResult
    public static func loadAdapter(into module: Module, from directory: String) throws -> LoRAConfig {
        let cfgPath = (directory as NSString).appendingPathComponent("adapter_config.json")
        guard let data = FileManager.default.contents(atPath: cfgPath),
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LoRAError.badAdapter(file: cfgPath, detail: "missing or not JSON")
        }
        guard (json["peft_type"] as? String) == "LORA", let r = json["r"] as? Int else {
            throw LoRAError.badAdapter(file: cfgPath, detail: "peft_type must be LORA with an integer r")
        }
        let alpha = (json["lora_alpha"] as? Double).map(Float.init) ?? Float(r)
        let targets: [String]
        if let t = json["target_modules"] as? [String] { targets = t } else { targets = LoRAConfig.defaultTargets }
        let layers = (json["layers_to_transform"] as? [Int]) ?? (json["layers_to_transform"] as? Int).map { [$0] }
        let config = LoRAConfig(rank: r, alpha: alpha, dropout: (json["lora_dropout"] as? Double).map(Float.init) ?? 0, targetModules: targets,
                                layers: layers)
        try apply(config, to: module)
        let file = try SafetensorsFile(path: (directory as NSString).appendingPathComponent("adapter_model.safetensors"))
        var state: [String: Tensor] = [:]
        for k in file.names {
            let v = try file.tensor(k)
            var key = k.hasPrefix("base_model.model.") ? String(k.dropFirst("base_model.model.".count)) : k
            key = key.replacingOccurrences(of: ".default.weight", with: ".weight")
            state[key] = v
        }
        let expected = Set(adapterState(of: module).keys.map { String($0.dropFirst("base_model.model.".count)) })
        let missing = expected.subtracting(state.keys).sorted(), extra = Set(state.keys).subtracting(expected).sorted()
        guard missing.isEmpty, extra.isEmpty else {
            throw LoRAError.badAdapter(file: directory, detail: "adapter keys do not match the model: missing \(missing.prefix(4)), unexpected \(extra.prefix(4))")
        }
        let params = Dictionary(uniqueKeysWithValues: module.namedParameters())
        for (k, v) in state {
            let p = params[k]!
            guard p.shape == v.shape else { throw LoRAError.badAdapter(file: directory, detail: "\(k): shape \(v.shape), model needs \(p.shape)") }
            p.assign(v)
        }
        return config
    }
}
