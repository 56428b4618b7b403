import ETLExtraction
import ETLState
import FoundationEssentials

/// Persists the shared rate gate in the state DB, so a restart or a kill -9 never sends a
/// request inside a Retry-After window or a quota park.
final class StateGateStore: GateStore, @unchecked Sendable {
    private let state: StateStore
    init(state: StateStore) { self.state = state }

    func loadGate() -> (notBefore: Date, reason: String)? {
        guard let raw = try? state.get("rate_gate.not_before"), let t = Double(raw) else { return nil }
        return (Date(timeIntervalSince1970: t), (try? state.get("rate_gate.reason")) ?? "")
    }

    func saveGate(notBefore: Date, reason: String) {
        try? state.set("rate_gate.not_before", String(notBefore.timeIntervalSince1970))
        try? state.set("rate_gate.reason", reason)
    }
}

/// Remembers what the app may do (batch `/artists`, `/items` vs legacy `/tracks`) across
/// restarts, so a dev-mode app does not re-probe a forbidden endpoint on every start.
final class StateCapabilityStore: CapabilityStore, @unchecked Sendable {
    private let state: StateStore
    init(state: StateStore) { self.state = state }
    func get(_ key: String) -> String? { try? state.get("capability." + key) }
    func set(_ key: String, value: String) { try? state.set("capability." + key, value) }
}
