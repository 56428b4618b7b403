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
    public var ok: Bool
    public var error: String?
    public var status: StatusReport?
    public var message: String?

    public init(ok: Bool, error: String? = nil, status: StatusReport? = nil, message: String? = nil) {
        self.ok = ok
        self.error = error
        self.status = status
        self.message = message
    }

    public static func failure(_ error: String) -> ControlResponse { ControlResponse(ok: false, error: error) }
    public static let permissionDenied = ControlResponse.failure("permission denied")

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
