import ETLCore
import ETLConfig
import Synchronization

/// The running configuration: one immutable snapshot, replaced whole on reload. A reader gets
/// either the old snapshot or the new one, never a mix, because `AppConfig` is a value and the
/// swap is one assignment under the mutex. A rejected reload never reaches `replace`.
public final class ConfigStore: Sendable {
    /// A snapshot and its generation (1 at start, +1 per accepted reload), so logs and tests
    /// can tell which one a piece of work used.
    public struct Snapshot: Sendable {
        public let config: AppConfig
        public let generation: Int
    }

    private let snapshot: Guarded<Snapshot>

    public init(_ config: AppConfig) { snapshot = Guarded(Snapshot(config: config, generation: 1)) }

    public var current: Snapshot { snapshot.withLock { $0 } }

    /// Installs `config` as the next generation and returns it.
    @discardableResult
    public func replace(_ config: AppConfig) -> Snapshot {
        snapshot.withLock { s in
            s = Snapshot(config: config, generation: s.generation + 1)
            return s
        }
    }
}
