import ETLCore
import ETLDaemon
import FoundationEssentials
import Synchronization

/// Serves the generated bodies to the real `PlaylistPoller` through its `Source` protocol:
/// no network, no HTTP. Time spent producing bodies is accounted separately (thread CPU and
/// wall), so the reported pipeline figures can exclude it: in production the bytes arrive
/// from curl, here they stand in for recorded pages.
final class ReplaySource: PlaylistPoller.Source, Sendable {
    /// The generator and what was served; one mutex, uncontended (the benchmark polls on one
    /// thread), so the pipeline figures do not move.
    struct Served {
        var gen: PageGenerator
        var cpuSeconds = 0.0
        var wallSeconds = 0.0
        var pagesServed = 0
        var bytesServed = 0
        var artistsServed = 0
    }
    let served: Guarded<Served>

    init(_ gen: PageGenerator) { served = Guarded(Served(gen: gen)) }

    /// Starts a pass: the generator's version, counters at zero.
    func reset(version: Int) {
        served.withLock { s in
            s.gen.version = version
            s.cpuSeconds = 0; s.wallSeconds = 0; s.pagesServed = 0; s.bytesServed = 0; s.artistsServed = 0
        }
    }

    var snapshot: Served { served.withLock { $0 } }

    private func timed(_ body: (inout Served) throws -> Data) rethrows -> Data {
        try served.withLock { s in
            let c0 = ResourceUsage.threadCPU(), w0 = ResourceUsage.monotonic()
            defer {
                s.cpuSeconds += ResourceUsage.threadCPU() - c0
                s.wallSeconds += ResourceUsage.monotonic() - w0
            }
            let d = try body(&s)
            s.bytesServed += d.count
            return d
        }
    }

    private static func playlist(_ id: String, _ gen: PageGenerator) throws -> Int {
        guard let p = PageGenerator.index(ofID: id), p < gen.playlists else { throw ReplayError("unknown playlist \(id)") }
        return p
    }

    /// The playlist with its embedded first page (counted as a page served).
    func playlist(_ id: String) throws -> Data {
        try timed { s in
            s.pagesServed += 1
            return Data(s.gen.playlist(playlist: try Self.playlist(id, s.gen)))
        }
    }

    func playlistSnapshot(_ id: String) throws -> Data {
        try timed { s in Data(s.gen.snapshot(playlist: try Self.playlist(id, s.gen))) }
    }

    func itemsPage(_ id: String, offset: Int) throws -> Data {
        try timed { s in
            s.pagesServed += 1
            return Data(s.gen.itemsPage(playlist: try Self.playlist(id, s.gen), offset: offset))
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
            out[id] = .some(timed { s in
                s.artistsServed += 1
                return Data(s.gen.fullArtist(id))
            })
        }
        return out
    }
}

struct ReplayError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
