import Foundation
import TensorKit

/// The symmetric CLIP loss (InfoNCE in both directions) with a learnable temperature, as stage 2
/// of LLM2CLIP (and open_clip's `ClipLoss`) computes it.
///
/// ```swift
/// let img = model.encodeImage(pixels), txt = model.encodeText(features)   // unit length
/// let loss = CLIPObjective.loss(images: img, texts: txt, logitScale: model.logitScale)
/// loss.backward()
/// CLIPObjective.clampLogitScale(model.logitScale)                       // after the optimiser step
/// ```
public enum CLIPObjective {
    /// ln(100): the largest logit scale the reference allows (temperature 0.01).
    public static let maxLogitScale: Float = logf(100)
    /// ln(1/0.07): the logit scale a model starts from.
    public static let initialLogitScale: Float = logf(1 / 0.07)

    /// Mean of the image→text and text→image cross-entropies of `exp(logitScale) · images · textsᵀ`
    /// with labels `arange(B)`. `images` and `texts` are [B, E] rows of matching pairs (normalise
    /// them first); `logitScale` is a scalar tensor (the log of the inverse temperature).
    public static func loss(images: Tensor, texts: Tensor, logitScale: Tensor) -> Tensor {
        precondition(images.shape.count == 2 && images.shape == texts.shape,
                     "CLIP loss: images \(images.shape) and texts \(texts.shape) must both be [B, E]")
        let logits = matmul(images, texts.transposed()) * logitScale.exp()
        let labels = Array(0..<images.shape[0])
        return (crossEntropy(logits, targets: labels) + crossEntropy(logits.transposed(), targets: labels)) * 0.5
    }

    /// Clamps the logit scale into [0, ln 100] in place, as the reference does after every step.
    public static func clampLogitScale(_ logitScale: Tensor) {
        withNoGrad {
            let v = logitScale.fptr
            for i in 0..<logitScale.count { v[i] = min(max(v[i], 0), maxLogitScale) }
        }
    }
}
