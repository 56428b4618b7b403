import ETLCore
import FoundationEssentials
import Synchronization

/// Remembers what the client learned about this app's API access (legacy items endpoint,
/// forbidden batch endpoints), so the probe cost is paid once, not on every poll. The daemon
/// backs it with the state DB; values are plain strings.
public protocol CapabilityStore: AnyObject, Sendable {
    func get(_ key: String) -> String?
    func set(_ key: String, value: String)
}

/// Keys and values the client writes.
public enum Capability {
    /// `items` once /playlists/{id}/items has answered 2xx; `legacy` once the app is known to
    /// need /playlists/{id}/tracks.
    public static let itemsEndpoint = "items_endpoint"
    public static let itemsModern = "items"
    public static let itemsLegacy = "legacy"
    /// `forbidden` after GET /artists?ids= answered 403 (development mode).
    public static let artistsBatch = "artists_batch"
    public static let forbidden = "forbidden"
}

public final class InMemoryCapabilityStore: CapabilityStore {
    private let values: Guarded<[String: String]>

    public init(_ values: [String: String] = [:]) { self.values = Guarded(values) }

    public func get(_ key: String) -> String? {
        values.withLock { $0[key] }
    }

    public func set(_ key: String, value: String) {
        values.withLock { $0[key] = value }
    }
}
