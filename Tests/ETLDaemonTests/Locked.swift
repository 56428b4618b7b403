import ETLCore
import Synchronization

/// A value shared between a test and the closures it hands to the code under test (which run
/// on other threads): a class, so escaping closures can capture it, holding a mutex.
final class Locked<T: Sendable>: Sendable {
    private let m: Guarded<T>
    init(_ value: T) { m = Guarded(value) }
    var value: T {
        get { m.withLock { $0 } }
        set { m.withLock { $0 = newValue } }
    }
    func update<R: Sendable>(_ f: (inout T) -> R) -> R { m.withLock { f(&$0) } }
}
