import ETLExtraction
import ETLState
import FoundationEssentials

/// Persists the shared rate gate in the state DB, so a restart or a kill -9 never sends a
/// request inside a Retry-After window or a quota park.
final class StateGateStore: GateStore, Sendable {
    private let state: StateStore
    init(state: StateStore) { self.state = state }

    func loadGate() -> GatePark? {
        guard let raw = try? state.get("rate_gate.not_before"), let t = Double(raw) else { return nil }
        return GatePark(notBefore: Date(timeIntervalSince1970: t), reason: (try? state.get("rate_gate.reason")) ?? "",
                        cause: DeferralCause.persisted(try? state.get("rate_gate.cause")))
    }

    func saveGate(_ park: GatePark) {
        try? state.set("rate_gate.not_before", String(park.notBefore.timeIntervalSince1970))
        try? state.set("rate_gate.reason", park.reason)
        try? state.set("rate_gate.cause", park.cause.rawValue)
    }
}

/// Remembers what the app may do (batch `/artists`, `/items` vs legacy `/tracks`) across
/// restarts, so a dev-mode app does not re-probe a forbidden endpoint on every start.
final class StateCapabilityStore: CapabilityStore, Sendable {
    private let state: StateStore
    init(state: StateStore) { self.state = state }
    func get(_ key: String) -> String? { try? state.get("capability." + key) }
    func set(_ key: String, value: String) { try? state.set("capability." + key, value) }
}
