/// One recorded operation: where its inputs came from and how to turn the output's gradient
/// into theirs.
///
/// A node keeps its inputs' *nodes* (and leaf tensors that need a gradient), never the input
/// tensors themselves: an intermediate activation stays alive only if some backward closure
/// saved it, so activations no backward needs (the input of a linear map, of a view, of an
/// addition) are freed as soon as the forward pass is done with them.
final class GradNode {
    struct Edge {
        /// The node that produced the input (non-leaf inputs).
        var node: GradNode?
        /// The input itself when it is a leaf that requires a gradient.
        var leaf: Tensor?
        /// Whether the input requires a gradient (at recording time).
        let requiresGrad: Bool
        let shape: [Int]
    }
    var inputs: [Edge]
    var backward: ((Tensor) -> [Tensor?])?
    let outputShape: [Int]

    init(inputs: [Tensor], outputShape: [Int], backward: @escaping (Tensor) -> [Tensor?]) {
        self.inputs = inputs.map { t in
            Edge(node: t.node, leaf: t.node == nil && t.requiresGrad ? t : nil, requiresGrad: t.requiresGrad, shape: t.shape)
        }
        self.backward = backward
        self.outputShape = outputShape
    }

    /// Drops the inputs and saved tensors.
    func release() {
        inputs = []
        backward = nil
    }

    deinit {
        // Releasing a long chain by ARC recursion would overflow the stack: move what this node
        // holds into the thread's release queue, which frees it iteratively.
        if inputs.isEmpty && backward == nil { return }
        let q = GraphRelease.local.value
        q.pending.append(inputs)
        inputs = []
        if let c = backward { q.pending.append(c) }
        backward = nil
        q.drain()
    }
}

/// Iterative graph release: every node that dies while the queue drains appends its references
/// instead of releasing them recursively.
final class GraphRelease {
    var pending: [Any] = []
    var draining = false
    static let local = ThreadLocal { GraphRelease() }

    /// Drops queued references one at a time; nodes that die meanwhile only enqueue.
    func drain() {
        if draining { return }
        draining = true
        while let next = pending.popLast() {
            _ = next
        }
        draining = false
    }
}

final class GradModeState { var enabled = true }

/// Whether operations are recorded for differentiation on the current thread.
public enum GradMode {
    static let state = ThreadLocal { GradModeState() }
    public static var isEnabled: Bool { state.value.enabled }
}

/// Runs `body` without recording operations: no graph and no saved activations.
///
/// ```swift
/// let features = withNoGrad { model(images) }
/// ```
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let s = GradMode.state.value
    let saved = s.enabled
    s.enabled = false
    defer { s.enabled = saved }
    return try body()
}

/// Attaches a backward rule to `out` when any input needs a gradient and grad mode is on.
@inline(__always)
func record(_ out: Tensor, _ inputs: [Tensor], _ backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
    guard inputs.contains(where: { $0.requiresGrad }), GradMode.isEnabled else { return out }
    out.requiresGrad = true
    out.node = GradNode(inputs: inputs, outputShape: out.shape, backward: backward)
    return out
}

public enum AutogradError: Error, CustomStringConvertible {
    case nonScalarOutput([Int])
    case graphReleased
    public var description: String {
        switch self {
        case .nonScalarOutput(let s):
            return "backward() without a seed needs a one-element output, got shape \(s); pass a seed gradient"
        case .graphReleased:
            return "the graph was already released by an earlier backward(); call backward(retainGraph: true) to reuse it"
        }
    }
}

extension Tensor {
    /// Back-propagates from this tensor, accumulating `grad` on every leaf that requires it.
    ///
    /// - Parameters:
    ///   - seed: the gradient of the output; defaults to 1 for a one-element output.
    ///   - retainGraph: keep the graph (and saved activations) for another backward pass.
    public func backward(_ seed: Tensor? = nil, retainGraph: Bool = false) {
        do { try tryBackward(seed, retainGraph: retainGraph) } catch { preconditionFailure("\(error)") }
    }

    /// Throwing form of ``backward(_:retainGraph:)``.
    public func tryBackward(_ seed: Tensor? = nil, retainGraph: Bool = false) throws {
        let g0: Tensor
        if let s = seed {
            precondition(s.shape == shape, "backward seed shape \(s.shape) differs from output shape \(shape)")
            g0 = s
        } else {
            guard count == 1 else { throw AutogradError.nonScalarOutput(shape) }
            g0 = Tensor.ones(shape)
        }
        guard requiresGrad else { return }
        guard let root = node else {
            accumulateLeaf(self, g0)
            return
        }
        // Topological order by iterative depth-first search.
        var order: [GradNode] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(GradNode, Int)] = [(root, 0)]
        visited.insert(ObjectIdentifier(root))
        while let (n, i) = stack.popLast() {
            if i < n.inputs.count {
                stack.append((n, i + 1))
                if let child = n.inputs[i].node, !visited.contains(ObjectIdentifier(child)) {
                    visited.insert(ObjectIdentifier(child))
                    stack.append((child, 0))
                }
            } else {
                order.append(n)
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): g0]
        withNoGrad {
            for n in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(n)) else { continue }
                guard let fn = n.backward else {
                    preconditionFailure(AutogradError.graphReleased.description)
                }
                let inputGrads = fn(g)
                for (inp, ig) in zip(n.inputs, inputGrads) {
                    guard let ig = ig, inp.requiresGrad else { continue }
                    precondition(ig.shape == inp.shape,
                                 "internal: gradient shape \(ig.shape) for input of shape \(inp.shape)")
                    if let child = inp.node {
                        let key = ObjectIdentifier(child)
                        if let prev = grads[key] { grads[key] = prev + ig } else { grads[key] = ig }
                    } else if let leaf = inp.leaf {
                        accumulateLeaf(leaf, ig)
                    }
                }
                if !retainGraph { n.release() }
            }
        }
    }
}

private func accumulateLeaf(_ t: Tensor, _ g: Tensor) {
    if let prev = t.grad {
        t.grad = prev + g
    } else {
        t.grad = g.isContiguous && g.storage !== t.storage ? g : g.contiguous().copy()
    }
}

extension Tensor {
    /// A fresh dense copy that shares nothing with `self`. Differentiable.
    public func copy() -> Tensor {
        let out = Tensor.empty(shape)
        copyStrided(from: self, into: out)
        return record(out, [self]) { g in [g] }
    }
}
