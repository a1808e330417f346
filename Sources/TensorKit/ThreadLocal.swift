#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-thread mutable state (grad mode, graph release queue). Each thread gets its own `Value`.
final class ThreadLocal<Value: AnyObject> {
    private var key = pthread_key_t()
    private let make: () -> Value

    init(_ make: @escaping () -> Value) {
        self.make = make
        pthread_key_create(&key) { ptr in
            if let ptr { Unmanaged<AnyObject>.fromOpaque(ptr).release() }
        }
    }

    var value: Value {
        if let p = pthread_getspecific(key) {
            return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as! Value
        }
        let v = make()
        pthread_setspecific(key, Unmanaged.passRetained(v as AnyObject).toOpaque())
        return v
    }
}
