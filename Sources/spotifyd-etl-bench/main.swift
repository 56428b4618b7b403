import ETLCore
import ETLDaemon
import ETLExtraction
import ETLSink
import ETLState
import FoundationEssentials
import Glibc
import Logging

/// spotifyd-etl-bench: the pipeline benchmark.
///
/// Feeds generated Spotify-shaped `/items` pages (see `PageGenerator`) through the REAL
/// pipeline — `PlaylistPoller` (decode → parse → diff against state → rows → one SQLite
/// commit per playlist, artist enrichment on) and `Flusher` (seal → NDJSON encode + gzip →
/// `LocalSink`) — against a fresh state DB pre-seeded with `--seen` already-seen track ids.
/// No network. One thread (concurrency 1). Reports items/s over wall and CPU time and peak
/// RSS (getrusage ru_maxrss and /proc VmHWM).
///
/// Every playlist is polled for the first time, so every entry becomes a `playlist_items`
/// row: the worst case for row volume. Most tracks (and their albums/artists) are already
/// seen; `--new-percent` of track entries are new ids and produce dimension rows.

struct Options {
    var playlists = 200
    var items = 500
    var seen = 1_000_000
    var newPercent = 10
    var seed: UInt64 = 1
    var dir: String?
    var keep = false
    var flushEvery = 20
    var smaps = false
    var dumpPage: Int?
    var dumpFields = false

    static let usage = """
        usage: spotifyd-etl-bench [--playlists N] [--items M] [--seen S] [--new-percent P]
                                  [--seed X] [--flush-every K] [--dir PATH] [--keep]
          --playlists N     playlists to poll (default 200)
          --items M         items per playlist (default 500; pages of 50)
          --seen S          track ids pre-seeded as already seen (default 1000000)
          --new-percent P   percent of track entries with a not-yet-seen id (default 10)
          --flush-every K   run the flusher (seal due batches, encode, gzip, write) every K polls (default 20)
          --dir PATH        work directory (default: a fresh temp dir, removed afterwards)
          --keep            keep the work directory
          --smaps           also list the largest resident mappings at the end
          --dump-page N     print page N (offset N*50) of playlist 0 and exit (to compare shapes with the emulator)
          --dump-fields     print the fields filter the pages are shaped by (ItemFields.items) and exit
        """

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 0
        func value() -> String {
            i += 1
            guard i < args.count else { fail("missing value for \(args[i - 1])") }
            return args[i]
        }
        func int(_ s: String) -> Int {
            guard let v = Int(s.replacing("_", with: "")), v >= 0 else { fail("not a number: \(s)") }
            return v
        }
        while i < args.count {
            switch args[i] {
            case "--playlists": o.playlists = max(1, int(value()))
            case "--items": o.items = max(1, int(value()))
            case "--seen": o.seen = int(value())
            case "--new-percent": o.newPercent = min(100, int(value()))
            case "--seed": o.seed = UInt64(int(value()))
            case "--flush-every": o.flushEvery = max(1, int(value()))
            case "--dir": o.dir = value()
            case "--keep": o.keep = true
            case "--smaps": o.smaps = true
            case "--dump-page": o.dumpPage = int(value())
            case "--dump-fields": o.dumpFields = true
            case "-h", "--help": print(usage); exit(0)
            default: fail("unknown argument \(args[i])")
            }
            i += 1
        }
        return o
    }
}

func fail(_ message: String) -> Never {
    StandardStreams.err("spotifyd-etl-bench: \(message)\n\(Options.usage)\n")
    exit(64)
}

func mib(_ kib: Int?) -> String {
    guard let kib else { return "n/a" }
    return String((Double(kib) / 1024 * 10).rounded() / 10) + " MiB"
}

func rate(_ n: Int, _ s: Double) -> String { s > 0 ? String(Int((Double(n) / s).rounded())) : "inf" }

func secs(_ s: Double) -> String { String((s * 1000).rounded() / 1000) + " s" }

let rssAtStart = ResourceUsage.procStatusKiB("VmRSS")
let opts = Options.parse(Array(CommandLine.arguments.dropFirst()))
if opts.dumpFields {
    StandardStreams.write(fd: 1, bytes: Array((ItemFields.items + "\n").utf8))
    exit(0)
}
if let n = opts.dumpPage {
    let g = PageGenerator(playlists: 1, itemsPerPlaylist: opts.items, seenTracks: opts.seen, newPercent: opts.newPercent,
                          seed: opts.seed)
    StandardStreams.write(fd: 1, bytes: Array(g.itemsPage(playlist: 0, offset: n * PageGenerator.pageLimit)))
    exit(0)
}
let fm = FileManager.default
let workDir: URL
if let d = opts.dir {
    workDir = URL(fileURLWithPath: d, isDirectory: true)
    try fm.createDirectory(at: workDir, withIntermediateDirectories: true)
    guard (try fm.contentsOfDirectory(atPath: workDir.path)).isEmpty else { fail("--dir \(d) is not empty") }
} else {
    var template = Array(((ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp") + "/spotifyd-etl-bench.XXXXXX").utf8CString)
    guard let p = mkdtemp(&template) else { fail("cannot create a temp dir") }
    workDir = URL(fileURLWithPath: String(cString: p), isDirectory: true)
}
let outDir = workDir.appendingPathComponent("out"), spoolDir = workDir.appendingPathComponent("spool")
try fm.createDirectory(at: outDir, withIntermediateDirectories: true)
try fm.createDirectory(at: spoolDir, withIntermediateDirectories: true)

let gen = PageGenerator(playlists: opts.playlists, itemsPerPlaylist: opts.items, seenTracks: opts.seen,
                        newPercent: opts.newPercent, seed: opts.seed)
let state = try StateStore(path: workDir.appendingPathComponent("state.db").path)

// Pre-seed: tracks, and the albums/artists/episodes of seen tracks (complete, as they would
// be after earlier polls and enrichment). Each track with its dimension fingerprint, as the
// poll that first recorded it would have stored it.
let seedStart = ResourceUsage.monotonic()
let seededTracks = try state.seedSeen((0..<opts.seen).lazy.map { t in
    let d = gen.trackDims(t)
    return SeenMark(.track, PageGenerator.trackID(t), complete: true,
                    dims: DimsFingerprint.of(albumID: d.albumID, artistIDs: d.artistIDs))
})
let seededAlbums = try state.seedSeen(kind: .album, ids: (0..<(opts.seen / 10)).lazy.map(PageGenerator.albumID), complete: true)
let seededArtists = try state.seedSeen(kind: .artist, ids: (0..<(opts.seen / 20)).lazy.map(PageGenerator.artistID), complete: true)
let seededEpisodes = try state.seedSeen(kind: .episode, ids: (0..<PageGenerator.episodePool).lazy.map(PageGenerator.episodeID),
                                        complete: true)
let seedSeconds = ResourceUsage.monotonic() - seedStart
let rssAfterSeed = ResourceUsage.procStatusKiB("VmRSS")
let hwmAfterSeed = ResourceUsage.procStatusKiB("VmHWM")

var logger = Logger(label: "spotifyd-etl-bench") { _ in SwiftLogNoOpLogHandler() }
logger.logLevel = .critical
let source = ReplaySource(gen)
let poller = PlaylistPoller(source: source, state: state, logger: logger)
let cfgLimits = Flusher.Limits(maxRows: 50_000, maxBytes: 64 << 20, maxAge: 60)
let flusher = Flusher(state: state, sink: LocalSink(root: outDir), spoolDirectory: spoolDir,
                      naming: ObjectNaming(format: .ndjson, gzip: true), limits: cfgLimits, logger: logger)

/// Figures of one timed pass over all playlists (polls, then the flusher).
struct Pass {
    var rows = 0, rejects = 0, added = 0, removed = 0, batches = 0, bytesOut = 0
    var cpu = 0.0, wall = 0.0, genCPU = 0.0, genWall = 0.0, pages = 0, bytesIn = 0, artists = 0
    var lookups: [DimensionKind: Int] = [:]
}

func runPass(version: Int) -> Pass {
    var pass = Pass()
    source.reset(version: version)
    func absorb(_ r: Flusher.Result) {
        if let f = r.failure { fail("flush failed: \(f.description)") }
        pass.batches += r.uploaded
        pass.bytesOut += r.bytes
    }
    let lookups0 = state.seenLookupCounts()
    let cpu0 = ResourceUsage.processCPU(), wall0 = ResourceUsage.monotonic()
    for p in 0..<opts.playlists {
        switch poller.poll(gen.playlistID(p)) {
        case .changed(let r, let rj, let a, let rm):
            pass.rows += r; pass.rejects += rj; pass.added += a; pass.removed += rm
        case let other:
            fail("playlist \(p): unexpected outcome \(other)")
        }
        if (p + 1) % opts.flushEvery == 0 { absorb(flusher.flush(force: false)) }
    }
    absorb(flusher.flush(force: true))
    pass.cpu = ResourceUsage.processCPU() - cpu0
    pass.wall = ResourceUsage.monotonic() - wall0
    let served = source.snapshot
    pass.genCPU = served.cpuSeconds; pass.genWall = served.wallSeconds
    pass.pages = served.pagesServed; pass.bytesIn = served.bytesServed; pass.artists = served.artistsServed
    pass.lookups = state.seenLookupCounts().mapValues { $0 }
    for (k, n) in lookups0 { pass.lookups[k, default: 0] -= n }
    return pass
}

let items = opts.playlists * opts.items
let first = runPass(version: 0)
let update = runPass(version: 1)
let pending = try state.outboxSummary().values.reduce(0) { $0 + $1.rows }
guard pending == 0 else { fail("outbox not drained: \(pending) rows") }

func report(_ title: String, _ p: Pass) -> String {
    """
      \(title)
        pages in        \(p.pages) pages, \(p.bytesIn / 1_048_576) MiB of JSON, \(p.artists) artist bodies
        rows written    \(p.rows) (\(p.added) added + \(p.removed) removed item events, \(p.rejects) rejects), \
    \(p.batches) gzip NDJSON batches, \(p.bytesOut) bytes out
        seen lookups    \(p.lookups[.track] ?? 0) tracks, \(p.lookups[.album] ?? 0) albums, \(p.lookups[.artist] ?? 0) artists, \
    \(p.lookups[.episode] ?? 0) episodes
        time            wall \(secs(p.wall)), CPU \(secs(p.cpu)); of which generating pages: wall \(secs(p.genWall)), \
    CPU \(secs(p.genCPU))
        items/s (CPU)   \(rate(items, p.cpu - p.genCPU))   pipeline only (page generation excluded)
        items/s (wall)  \(rate(items, p.wall - p.genWall))   pipeline only (page generation excluded)
        items/s incl.   CPU \(rate(items, p.cpu)), wall \(rate(items, p.wall))   (page generation included)
    """
}

print("""
    spotifyd-etl pipeline benchmark (release build, one thread)
      workload        \(opts.playlists) playlists x \(opts.items) items = \(items) items per pass, pages of \
    \(PageGenerator.pageLimit), \(opts.newPercent)% new track ids per pass
      pre-seeded      \(seededTracks) tracks, \(seededAlbums) albums, \(seededArtists) artists, \(seededEpisodes) episodes \
    seen (\(secs(seedSeconds)))
    \(report("pass 1: first poll of every playlist (every entry becomes an item event)", first))
    \(report("pass 2: re-poll after a change (\(opts.newPercent)% of entries replaced by new tracks) [steady state]", update))
      peak RSS        ru_maxrss \(mib(ResourceUsage.maxRSSKiB())), VmHWM \(mib(ResourceUsage.procStatusKiB("VmHWM"))) \
    (after seeding: RSS \(mib(rssAfterSeed)), HWM \(mib(hwmAfterSeed)))
      RSS now         anon \(mib(ResourceUsage.procStatusKiB("RssAnon"))), file-backed \(mib(ResourceUsage.procStatusKiB("RssFile"))) \
    (at start: RSS \(mib(rssAtStart)))
      threads         \(ResourceUsage.threads().map(String.init) ?? "n/a")
      work dir        \(workDir.path)\(opts.keep || opts.dir != nil ? "" : " (removed)")
    """)
if opts.smaps {
    print("  largest resident mappings:")
    for (path, kib) in ResourceUsage.topMappings(15) { print("    \(mib(kib))\t\(path)") }
}
if !opts.keep && opts.dir == nil { try? fm.removeItem(at: workDir) }
