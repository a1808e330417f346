/// State that a computation consumes and that must be replayed exactly when the computation is
/// re-run for ``checkpoint(_:parameters:preserving:_:)`` — typically a random generator behind
/// dropout. `snapshot()` captures the current state; `restore(_:)` puts a captured one back.
///
/// ```swift
/// final class Coin: RecomputationState {
///     var rng = RNG(seed: 1)
///     func snapshot() -> Any { rng }
///     func restore(_ state: Any) { rng = state as! RNG }
/// }
/// ```
public protocol RecomputationState: AnyObject {
    func snapshot() -> Any
    func restore(_ state: Any)
}

/// Runs `body` with operations recorded again, even inside ``withNoGrad(_:)`` or a backward pass.
func withGradEnabled<T>(_ body: () throws -> T) rethrows -> T {
    let s = GradMode.state.value
    let saved = s.enabled
    s.enabled = true
    defer { s.enabled = saved }
    return try body()
}

/// Gradient checkpointing (activation recomputation): runs `body(inputs)` without keeping its
/// intermediate activations and records one graph node in their place. When the backward pass
/// reaches that node, `body` is run again — on detached copies of `inputs` that require a
/// gradient, with a graph — and the incoming gradient is back-propagated through the re-run:
/// the gradients of `inputs` flow on to the rest of the graph, and every leaf tensor `body`
/// uses (parameters) accumulates its `grad` as usual. Memory held between forward and backward
/// drops from all of `body`'s activations to its inputs; the cost is one more forward of `body`.
///
/// - `parameters`: the trainable tensors `body` reads besides `inputs`; the node is recorded when
///   any input or parameter requires a gradient (and grad mode is on). Parameters not listed still
///   receive gradients; listing them only matters when no input requires one.
/// - `states`: random generators and the like that `body` advances. Each is snapshotted before the
///   forward run, restored for the re-run (so dropout draws the same masks) and put back
///   afterwards, so code after the backward pass sees the state it would have seen without
///   checkpointing.
/// - `body` must be deterministic given its inputs and `states`, and must not depend on anything
///   that changes between the forward and the backward pass (such as a module's training flag).
///
/// Outside grad mode, or when nothing requires a gradient, this is simply `body(inputs)`.
///
/// ```swift
/// var x = embeddings
/// for layer in layers {
///     x = checkpoint([x], parameters: layer.parameters()) { layer($0[0]) }
/// }
/// loss(x).backward()    // each layer is re-run, one at a time, during backward
/// ```
public func checkpoint(_ inputs: [Tensor], parameters: [Tensor] = [], preserving states: [RecomputationState] = [],
                       _ body: @escaping ([Tensor]) -> Tensor) -> Tensor {
    guard GradMode.isEnabled,
          inputs.contains(where: { $0.requiresGrad }) || parameters.contains(where: { $0.requiresGrad }) else {
        return body(inputs)
    }
    let saved = states.map { $0.snapshot() }
    let out = withNoGrad { body(inputs) }.detach()   // a fresh tensor object even if body returned an input
    let shape = out.shape
    let needs = inputs.map(\.requiresGrad)
    out.requiresGrad = true
    // The closure owns the inputs (as the node does) until the backward pass releases it.
    out.node = GradNode(inputs: inputs, outputShape: shape) { [inputs, states] g in
        let current = states.map { $0.snapshot() }
        for (s, v) in zip(states, saved) { s.restore(v) }
        defer { for (s, v) in zip(states, current) { s.restore(v) } }
        let detached = zip(inputs, needs).map { t, n in n ? t.detach().requiringGrad() : t.detach() }
        let redone = withGradEnabled { body(detached) }
        precondition(redone.shape == shape, "checkpoint: the re-run produced shape \(redone.shape), the forward \(shape)")
        if redone.requiresGrad { redone.backward(g) }
        return zip(detached, needs).map { d, n in n ? d.grad : nil }
    }
    return out
}
