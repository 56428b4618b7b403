import FoundationEssentials
import ETLCore

/// Spotify playlist ids as users paste them. Ids are 22 base62 characters; people copy
/// `spotify:playlist:ID` URIs or `https://open.spotify.com/playlist/ID?si=…` share links, so
/// those are accepted and reduced to the bare id, which is what state keys and API paths use.
public enum PlaylistID {
    /// The bare id, or nil when `text` is not an id, URI or open.spotify.com playlist URL.
    ///
    /// Accepted forms:
    /// - `37i9dQZF1DXcBWIGoYBM5M`
    /// - `spotify:playlist:37i9dQZF1DXcBWIGoYBM5M` (also legacy `spotify:user:NAME:playlist:ID`)
    /// - `https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M?si=…` (http, no scheme,
    ///   `/intl-xx/` locale prefix and legacy `/user/NAME/playlist/ID` paths too)
    public static func normalize(_ text: String) -> String? {
        let s = text.trimmingWhitespace()
        if isBareID(s) { return s }
        if s.hasPrefix("spotify:") {
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 3, parts[1] == "playlist" { return bare(parts[2]) }
            if parts.count == 5, parts[1] == "user", parts[3] == "playlist" { return bare(parts[4]) }
            return nil
        }
        var rest = Substring(s)
        for scheme in ["https://", "http://"] where rest.lowercased().hasPrefix(scheme) {
            rest = rest.dropFirst(scheme.count)
            break
        }
        guard rest.lowercased().hasPrefix("open.spotify.com/") else { return nil }
        rest = rest.dropFirst("open.spotify.com/".count)
        if let cut = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<cut] }
        var segments = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if segments.last == "" { segments.removeLast() }
        if let first = segments.first, first.hasPrefix("intl-") { segments.removeFirst() }
        if segments.count == 2, segments[0] == "playlist" { return bare(Substring(segments[1])) }
        if segments.count == 4, segments[0] == "user", segments[2] == "playlist" { return bare(Substring(segments[3])) }
        return nil
    }

    /// 22 ASCII letters or digits.
    public static func isBareID<S: StringProtocol>(_ s: S) -> Bool {
        s.utf8.count == 22 && s.utf8.allSatisfy { (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    private static func bare(_ s: Substring) -> String? { isBareID(s) ? String(s) : nil }
}
