import TensorKit

/// A slot found by reflection: a parameter or a child module with its checkpoint key.
protocol KeyedSlot: AnyObject {
    var slotKey: String? { get }
    var slotValue: Any? { get }
}

/// Declares a parameter or a child module next to its checkpoint key (the Hugging Face /
/// original name). Use it as ``Param`` for tensors and ``Child`` for modules, arrays of modules
/// or optional ones; both names refer to this wrapper.
///
/// ```swift
/// final class Scale: Module {
///     @Param("weight") var weight: Tensor
///     @Child("proj") var proj: Linear
///     init(dim: Int, rng: inout RNG) {
///         super.init()
///         weight = Tensor.ones([dim]).requiringGrad()
///         proj = Linear(dim, dim, rng: &rng)
///     }
/// }
/// ```
@propertyWrapper
public final class Keyed<Value>: KeyedSlot {
    public let key: String
    var value: Value?
    public init(_ key: String) { self.key = key }
    public init(wrappedValue: Value, _ key: String) {
        self.key = key
        value = wrappedValue
    }
    public var wrappedValue: Value {
        get {
            guard let v = value else { fatalError("'\(key)' was read before it was set") }
            return v
        }
        set { value = newValue }
    }
    var slotKey: String? { key }
    var slotValue: Any? { value.map { $0 as Any } }
}

/// A parameter slot (see ``Keyed``).
public typealias Param<Value> = Keyed<Value>
/// A child-module slot (see ``Keyed``).
public typealias Child<Value> = Keyed<Value>

/// Uniform access to `Param<Tensor>` and `Param<Tensor?>`.
protocol ParamSlot: AnyObject {
    var tensorValue: Tensor? { get set }
}

extension Keyed: ParamSlot {
    var tensorValue: Tensor? {
        get { value.flatMap { $0 as? Tensor } }
        set { if let v = newValue as? Value { value = v } }
    }
}

/// Errors from loading a state dictionary. All problems are collected before throwing.
public struct StateDictError: Error, CustomStringConvertible, Equatable {
    public var missing: [String]
    public var unexpected: [String]
    public var misShaped: [(key: String, expected: [Int], found: [Int])]

    public static func == (a: StateDictError, b: StateDictError) -> Bool {
        a.missing == b.missing && a.unexpected == b.unexpected
            && a.misShaped.map { "\($0.key)\($0.expected)\($0.found)" } == b.misShaped.map { "\($0.key)\($0.expected)\($0.found)" }
    }

    public var description: String {
        var lines = ["state dict does not match the model:"]
        if !missing.isEmpty { lines.append("  missing keys (\(missing.count)): \(missing.joined(separator: ", "))") }
        if !unexpected.isEmpty { lines.append("  unexpected keys (\(unexpected.count)): \(unexpected.joined(separator: ", "))") }
        for m in misShaped { lines.append("  \(m.key): model expects \(m.expected), checkpoint has \(m.found)") }
        lines.append("  check that the checkpoint belongs to this architecture and configuration")
        return lines.joined(separator: "\n")
    }
}

/// Base class of every layer and model: a tree of modules whose parameters have stable dotted
/// names (the checkpoint keys). Parameters and children are declared with ``Param`` and
/// ``Child``; the tree is found by reflection.
///
/// ```swift
/// let mlp = MLP(inFeatures: 8, hidden: 16, outFeatures: 8, rng: &rng)
/// for (name, p) in mlp.namedParameters() { print(name, p.shape) }   // fc1.weight [16, 8] ...
/// ```
open class Module {
    /// Training mode (dropout on) or evaluation mode.
    public private(set) var training = true

    public init() {}

    private func slots() -> [(String, KeyedSlot)] {
        var out: [(String, KeyedSlot)] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror {
            for child in m.children {
                if let s = child.value as? KeyedSlot, let k = s.slotKey { out.append((k, s)) }
            }
            mirror = m.superclassMirror
        }
        return out
    }

    /// Direct children with their keys (arrays expand to `key.0`, `key.1`, ...).
    public func namedChildren() -> [(String, Module)] {
        var out: [(String, Module)] = []
        for (k, s) in slots() {
            guard let v = s.slotValue else { continue }
            if let m = v as? Module { out.append((k, m)) }
            else if let ms = v as? [Module] { for (i, m) in ms.enumerated() { out.append(("\(k).\(i)", m)) } }
        }
        return out
    }

    private func ownParameterSlots() -> [(String, ParamSlot)] {
        slots().compactMap { k, s in (s as? ParamSlot).map { (k, $0) } }
    }

    private func parameterSlots(prefix: String = "") -> [(String, ParamSlot)] {
        var out: [(String, ParamSlot)] = []
        for (k, p) in ownParameterSlots() where p.tensorValue != nil { out.append((prefix + k, p)) }
        for (k, m) in namedChildren() { out += m.parameterSlots(prefix: prefix + k + ".") }
        return out
    }

    /// Every parameter with its dotted checkpoint key, in declaration order.
    public func namedParameters() -> [(String, Tensor)] {
        parameterSlots().map { ($0.0, $0.1.tensorValue!) }
    }

    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }

    /// Parameters that will receive gradients (not frozen).
    public func trainableParameters() -> [(String, Tensor)] { namedParameters().filter { $0.1.requiresGrad } }

    /// Name → tensor map (the checkpoint layout).
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedParameters().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    }

    /// Freezes parameters whose key matches (all when `matching` is nil).
    public func freeze(matching: ((String) -> Bool)? = nil) {
        for (k, p) in parameterSlots() where matching?(k) ?? true { p.tensorValue!.requiringGrad(false) }
    }

    /// Unfreezes parameters whose key matches (all when `matching` is nil).
    public func unfreeze(matching: ((String) -> Bool)? = nil) {
        for (k, p) in parameterSlots() where matching?(k) ?? true { p.tensorValue!.requiringGrad(true) }
    }

    /// Switches this module and its children to training or evaluation mode.
    public func train(_ on: Bool = true) {
        training = on
        for (_, m) in namedChildren() { m.train(on) }
    }

    public func eval() { train(false) }

    /// Clears the gradients of every parameter.
    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// Replaces parameters from `state`. With `strict`, every missing, unexpected and
    /// mis-shaped key is reported at once and nothing is changed. Values are converted to
    /// float32, except that with `keepHalfPrecision` float16/bfloat16 matrices stay in their
    /// storage type (frozen; `linear` and `embedding` widen them on the fly). Each other
    /// parameter keeps its trainable flag.
    public func load(stateDict state: [String: Tensor], strict: Bool = true, keepHalfPrecision: Bool = false) throws {
        let slots = parameterSlots()
        let known = Set(slots.map { $0.0 })
        var err = StateDictError(missing: [], unexpected: [], misShaped: [])
        for (k, p) in slots {
            guard let t = state[k] else { err.missing.append(k); continue }
            let current = p.tensorValue!
            if t.shape != current.shape { err.misShaped.append((k, current.shape, t.shape)) }
        }
        err.unexpected = state.keys.filter { !known.contains($0) }.sorted()
        let fatal = !err.misShaped.isEmpty || (strict && (!err.missing.isEmpty || !err.unexpected.isEmpty))
        if fatal { throw err }
        for (k, p) in slots {
            guard let t = state[k] else { continue }
            let trainable = p.tensorValue!.requiresGrad
            if keepHalfPrecision && t.dtype != .float32 && t.rank >= 2 && t.isContiguous {
                p.tensorValue = t.detach()
                continue
            }
            let v = t.dtype == .float32 ? t.detach().contiguous() : t.to(.float32)
            p.tensorValue = (v.isContiguous && v.storage !== t.storage ? v : v.copy().detach()).requiringGrad(trainable)
        }
    }
}
