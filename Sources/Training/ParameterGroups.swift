import Foundation
import NeuralNet
import TensorKit

/// How stage 2 splits parameters for AdamW, following the reference: no weight decay on biases,
/// norms, the position embedding, the class token and the logit scale; layer-wise learning-rate
/// decay on the image tower (embeddings get `decay^(L+1)`, block k gets `decay^(L−k)`, the final
/// norm and head 1); everything outside the tower (adapter, text tower, logit scale) gets 1.
/// When fine-tuning from a pretrained checkpoint, the parameters it supplied (`pretrained`) are
/// scaled by `pretrainedScale` on top of that, so that new parts (a fresh adapter or head) learn
/// at the full rate while the pretrained ones move gently.
///
/// ```swift
/// let plan = ParameterGroups(named: model.namedParameters(), visualLayers: 6, layerDecay: 0.85, weightDecay: 0.05)
/// let opt = AdamW(groups: plan.groups, learningRate: 5e-4)
/// plan.assignment["visual.blocks.0.attn.q_proj.weight"]   // (lrScale: 0.85^5, weightDecay: 0.05)
/// ```
public struct ParameterGroups {
    /// Optimiser groups, one per distinct (learning-rate scale, weight decay).
    public let groups: [ParamGroup]
    /// Each parameter's learning-rate scale and weight decay, by name.
    public let assignment: [String: (lrScale: Float, weightDecay: Float)]

    public init(named: [(String, Tensor)], visualLayers: Int, layerDecay: Float, weightDecay: Float, visualPrefix: String = "visual.",
                pretrained: Set<String> = [], pretrainedScale: Float = 1) {
        var order: [String] = []
        var members: [String: (scale: Float, decay: Float, params: [Tensor])] = [:]
        var assignment: [String: (Float, Float)] = [:]
        for (name, p) in named {
            var scale: Float
            if name.hasPrefix(visualPrefix) {
                let layer = ParameterGroups.layerID(String(name.dropFirst(visualPrefix.count)), layers: visualLayers)
                scale = powf(layerDecay, Float(visualLayers + 1 - layer))
            } else {
                scale = 1
            }
            if pretrained.contains(name) { scale *= pretrainedScale }
            let decay = ParameterGroups.decays(name, rank: p.rank) ? weightDecay : 0
            let id = "lr×\(scale) wd \(decay)"
            if members[id] == nil {
                order.append(id)
                members[id] = (scale, decay, [])
            }
            members[id]!.params.append(p)
            assignment[name] = (scale, decay)
        }
        groups = order.map { id in
            let m = members[id]!
            return ParamGroup(params: m.params, lrScale: m.scale, weightDecay: m.decay, name: id)
        }
        self.assignment = assignment.mapValues { (lrScale: $0.0, weightDecay: $0.1) }
    }

    /// Layer index of a tower parameter (name without the tower prefix): 0 for the embeddings
    /// (patch, class token, positions, the pre-norm of CLIP ViTs), k+1 for block k, L+1 for the
    /// rest (final norm, head, projection). EVA02 and Hugging Face CLIP ViT names are understood.
    public static func layerID(_ name: String, layers: Int) -> Int {
        for prefix in ["blocks.", "vision_model.encoder.layers."] where name.hasPrefix(prefix) {
            if let k = Int(name.dropFirst(prefix.count).prefix { $0 != "." }) { return k + 1 }
        }
        let embeddings = ["cls_token", "pos_embed", "patch_embed.", "vision_model.embeddings.", "vision_model.pre_layrnorm."]
        if embeddings.contains(where: { name == $0 || name.hasPrefix($0) }) { return 0 }
        return layers + 1
    }

    /// Whether weight decay applies: not to vectors and scalars (biases, norm gains, logit
    /// scale), nor to position embeddings and class tokens.
    public static func decays(_ name: String, rank: Int) -> Bool {
        if rank < 2 { return false }
        let exempt = ["pos_embed", "cls_token", "position_embedding", "class_embedding", "logit_scale"]
        let last = name.split(separator: ".").suffix(2).joined(separator: ".")
        if exempt.contains(where: { name.hasSuffix($0) || last.contains($0) }) { return false }
        if name.hasSuffix(".bias") { return false }
        return true
    }
}
