import ETLDaemon
import FoundationEssentials

/// Serves the generated bodies to the real `PlaylistPoller` through its `Source` protocol:
/// no network, no HTTP. Time spent producing bodies is accounted separately (thread CPU and
/// wall), so the reported pipeline figures can exclude it: in production the bytes arrive
/// from curl, here they stand in for recorded pages.
final class ReplaySource: PlaylistPoller.Source {
    var gen: PageGenerator
    var cpuSeconds = 0.0
    var wallSeconds = 0.0
    var pagesServed = 0
    var bytesServed = 0
    var artistsServed = 0

    init(_ gen: PageGenerator) { self.gen = gen }

    private func timed(_ body: () throws -> Data) rethrows -> Data {
        let c0 = ResourceUsage.threadCPU(), w0 = ResourceUsage.monotonic()
        defer {
            cpuSeconds += ResourceUsage.threadCPU() - c0
            wallSeconds += ResourceUsage.monotonic() - w0
        }
        let d = try body()
        bytesServed += d.count
        return d
    }

    private func playlist(_ id: String) throws -> Int {
        guard let p = PageGenerator.index(ofID: id), p < gen.playlists else { throw ReplayError("unknown playlist \(id)") }
        return p
    }

    func playlistMetadata(_ id: String) throws -> Data {
        try timed { Data(gen.metadata(playlist: try playlist(id))) }
    }

    func itemsPage(_ id: String, offset: Int) throws -> Data {
        try timed {
            pagesServed += 1
            return Data(gen.itemsPage(playlist: try playlist(id), offset: offset))
        }
    }

    /// `next` URLs look like `…/playlists/{id}/items?limit=50&offset=N&…`.
    func itemsPage(url: String) throws -> Data {
        guard let r = url.firstRange(of: "/playlists/") else { throw ReplayError("bad next URL \(url)") }
        let id = String(url[r.upperBound...].prefix(22))
        guard let o = url.firstRange(of: "&offset="), let offset = Int(url[o.upperBound...].prefix { $0.isNumber }) else {
            throw ReplayError("no offset in \(url)")
        }
        return try itemsPage(id, offset: offset)
    }

    func artists(_ ids: [String]) throws -> [String: Data?] {
        var out: [String: Data?] = [:]
        for id in ids {
            out[id] = .some(timed { Data(gen.fullArtist(id)) })
            artistsServed += 1
        }
        return out
    }
}

struct ReplayError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
