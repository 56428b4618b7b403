import FoundationEssentials

/// One request per connection, as one JSON line: `{"cmd":"status"}`,
/// `{"cmd":"poll","playlists":["id",...]}`, `{"cmd":"flush"}`.
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable, CaseIterable {
        case status, poll, flush
    }

    public var cmd: Command
    /// For `poll`: which playlists to poll now; nil = all.
    public var playlists: [String]?

    public init(cmd: Command, playlists: [String]? = nil) {
        self.cmd = cmd
        self.playlists = playlists
    }

    /// Parses one line; throws a readable error for malformed input or unknown commands.
    public static func decode(line: String) throws -> ControlRequest {
        do {
            return try JSONDecoder().decode(ControlRequest.self, from: Data(line.utf8))
        } catch {
            throw ControlProtocolError.badRequest("malformed request (expected {\"cmd\":\"status\"|\"poll\"|\"flush\"})")
        }
    }

    public func jsonLine() -> String { ControlCoding.line(self) }
}

/// The single reply line.
public struct ControlResponse: Codable, Sendable, Equatable {
    /// Why the daemon turned the connection away without reading its request, so a client can
    /// tell "ask again" from "you may not ask" without reading `error`'s text.
    public enum Refusal: String, Codable, Sendable, CaseIterable {
        /// Every connection slot was taken: nothing was read or done; retrying is safe.
        case busy
        /// The peer is not root, the daemon's user or in its group.
        case permissionDenied = "permission_denied"
    }

    public var ok: Bool
    public var error: String?
    public var status: StatusReport?
    public var message: String?
    /// Set only on refusals, as `Refusal`'s raw value (a string, so a refusal this build does
    /// not know still decodes).
    public var refused: String?

    public init(ok: Bool, error: String? = nil, status: StatusReport? = nil, message: String? = nil,
                refused: Refusal? = nil) {
        self.ok = ok
        self.error = error
        self.status = status
        self.message = message
        self.refused = refused?.rawValue
    }

    /// The typed refusal, when the reply is one this build knows.
    public var refusal: Refusal? { refused.flatMap(Refusal.init(rawValue:)) }

    public static func failure(_ error: String) -> ControlResponse { ControlResponse(ok: false, error: error) }
    public static let permissionDenied = ControlResponse(ok: false, error: "permission denied", refused: .permissionDenied)
    public static func busy(slots: Int) -> ControlResponse {
        ControlResponse(ok: false, error: "busy: all \(slots) control connections are in use; try again", refused: .busy)
    }

    public static func decode(line: String) throws -> ControlResponse {
        do {
            return try JSONDecoder().decode(ControlResponse.self, from: Data(line.utf8))
        } catch {
            throw ControlProtocolError.badResponse("unreadable reply from spotifyd-etl")
        }
    }

    public func jsonLine() -> String { ControlCoding.line(self) }
}

public enum ControlProtocolError: Error, Equatable, CustomStringConvertible {
    case badRequest(String)
    case badResponse(String)

    public var description: String {
        switch self {
        case .badRequest(let m), .badResponse(let m): return m
        }
    }
}

/// Stable JSON: sorted keys, no escaped slashes, one line.
enum ControlCoding {
    static func line<T: Encodable>(_ value: T) -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? enc.encode(value) else { return "{\"ok\":false,\"error\":\"encoding failed\"}" }
        return String(decoding: data, as: UTF8.self)
    }
}
