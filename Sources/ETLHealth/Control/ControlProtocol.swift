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

    /// The reply as the daemon sends it: `jsonLine()`'s JSON and a newline, handed to `send`
    /// in pieces of about 64 KiB (`ControlCoding.write`), so a status of 100,000 playlists is
    /// never one 25 MB buffer. Stops at the first piece `send` refuses; false then.
    public func writeJSONLine(to send: ([UInt8]) -> Bool) -> Bool {
        ControlCoding.write(self, playlists: status?.playlists ?? [], emptied: { $0.status?.playlists = [] },
                            terminator: [UInt8(ascii: "\n")], to: send)
    }

    /// `writeJSONLine`'s pieces joined.
    public func jsonLineBytes() -> [UInt8] {
        var out: [UInt8] = []
        _ = writeJSONLine { out += $0; return true }
        return out
    }
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

    /// `line(value)`'s JSON as bytes, with the status report's playlist list written by
    /// `StatusReport.Playlist.appendJSON` rather than by JSONEncoder, whose intermediate tree
    /// for 100,000 playlists took ~260 MiB of the daemon's heap (more than the unit's
    /// `MemoryMax`) for a 25 MB answer. `emptied` clears that list in a copy of `value`; the
    /// copy is encoded as usual and the list is written where its `"playlists":[]` stands.
    /// A raw `"` inside a JSON string is always escaped, so that text can only be the key.
    static func bytes<T: Encodable>(_ value: T, playlists: [StatusReport.Playlist], emptied: (inout T) -> Void) -> [UInt8] {
        var out: [UInt8] = []
        _ = write(value, playlists: playlists, emptied: emptied, terminator: []) { out += $0; return true }
        return out
    }

    /// `bytes(…)` followed by `terminator`, handed to `send` in pieces of about `piece` bytes;
    /// stops at the first piece `send` refuses and returns false then.
    static func write<T: Encodable>(_ value: T, playlists: [StatusReport.Playlist], emptied: (inout T) -> Void,
                                    terminator: [UInt8], piece: Int = 64 << 10, to send: ([UInt8]) -> Bool) -> Bool {
        guard !playlists.isEmpty else { return send(Array(line(value).utf8) + terminator) }
        var head = value
        emptied(&head)
        let text = Array(line(head).utf8)
        guard let at = text.firstRange(of: Array(#""playlists":[]"#.utf8)) else {
            return send(Array(line(value).utf8) + terminator)
        }
        let close = at.upperBound - 1  // the `]`
        var out = Array(text[..<close])
        out.reserveCapacity(piece + 4096)
        for (i, p) in playlists.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            p.appendJSON(to: &out)
            if out.count >= piece {
                guard send(out) else { return false }
                out.removeAll(keepingCapacity: true)
            }
        }
        out.append(contentsOf: text[close...])
        out.append(contentsOf: terminator)
        return send(out)
    }
}
