@testable import ETLDaemon
import ETLConfig
import ETLHealth
import Foundation
import Logging
import XCTest

/// SIGHUP's reload path in-process, under load: every poll the scheduler starts runs under one
/// config generation, and its playlist belongs to that generation's config (never to a
/// half-applied mix), while reloads alternate between two files. Part of the TSan run.
final class ReloadConsistencyTests: XCTestCase {
    static func id(_ set: String, _ i: Int) -> String { "\(set)" + String(repeating: "0", count: 21 - String(i).count) + "\(i)" }

    func testEveryPollUsesTheOldOrTheNewConfig() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("spotifyd-etl.toml").path
        let a = (0..<6).map { Self.id("A", $0) }, b = (0..<4).map { Self.id("B", $0) }
        func text(_ ids: [String], concurrency: Int) -> String {
            "[schedule]\nconcurrency = \(concurrency)\n" + ids.map { "\n[[playlists]]\nid = \"\($0)\"\n" }.joined()
        }
        try text(a, concurrency: 3).write(toFile: path, atomically: true, encoding: .utf8)
        let initial = try ConfigLoader.load(path: path)
        let store = ConfigStore(initial)
        // generation → playlist ids of that generation's config, as the reloader installed it.
        let installed = Locked<[Int: Set<String>]>([1: Set(a)])
        let polls = Locked<[(String, Int)]>([])
        let scheduler = Scheduler(playlists: DaemonApp.schedule(initial), jitter: 0, concurrency: 3) { id, generation in
            polls.update { $0.append((id, generation)) }
            usleep(200)
            return .unchanged
        }
        let logger = Logger(label: "t") { _ in SwiftLogNoOpLogHandler() }
        let reloader = Reloader(path: path, store: store, scheduler: scheduler, notifier: SystemdNotifier(), logger: logger) { _ in }
        scheduler.start()
        for i in 0..<100 {
            let ids = i % 2 == 0 ? b : a
            if i == 50 {
                // A rejected file keeps the running generation.
                try "[schedule\nconcurrency = ".write(toFile: path, atomically: true, encoding: .utf8)
                let before = store.current.generation
                XCTAssertEqual(reloader.reload(), before)
                continue
            }
            try text(ids, concurrency: 1 + i % 4).write(toFile: path, atomically: true, encoding: .utf8)
            // The mapping is recorded before the swap, so a poll of the new generation finds it.
            installed.update { $0[store.current.generation + 1] = Set(ids) }
            let g = reloader.reload()
            XCTAssertEqual(store.current.generation, g)
            XCTAssertEqual(Set(store.current.config.playlists.map(\.id)), Set(ids))
            _ = scheduler.pollNow(nil)
            usleep(2_000)
        }
        let stopped = expectation(description: "drained")
        scheduler.stop { stopped.fulfill() }
        wait(for: [stopped], timeout: 10)
        let seen = polls.value
        let gens = installed.value
        XCTAssertGreaterThan(seen.count, 100, "polls ran during the reloads")
        for (id, generation) in seen {
            guard let ids = gens[generation] else { XCTFail("poll under unknown generation \(generation)"); continue }
            XCTAssertTrue(ids.contains(id), "\(id) polled under generation \(generation), whose config does not list it")
        }
        XCTAssertEqual(Set(seen.map(\.1)).count > 10, true, "polls spanned many generations")
    }
}
