import ETLConfig
import ETLCore
import ETLHealth
import ETLSink
import Dispatch
import FoundationEssentials

/// Answers control-socket requests. `status` reads the status board and the state database and
/// never waits for an upload or a poll; `flush` waits for the flusher, which is what it asks.
struct ControlHandler: Sendable {
    let components: Components
    let board: StatusBoard
    let scheduler: Scheduler
    let flusher: FlusherService
    let watchdog: ProgressWatchdog
    let startedAt: Date

    func handle(_ req: ControlRequest) -> ControlResponse {
        switch req.cmd {
        case .status:
            let s = watchdog.stats
            let w = StatusReport.Watchdog(state: watchdog.stateDescription, intervalS: s.intervalS, pings: s.pings,
                                          maxGapS: s.pings > 1 ? s.maxGapS : nil)
            let healthy: Bool
            switch watchdog.verdict {
            case .healthy, .disabled: healthy = true
            case .stalled, .unresponsive: healthy = false
            }
            return ControlResponse(ok: true, status: board.report(startedAt: startedAt, gate: components.gate,
                                                                  tokens: components.tokens, scheduler: scheduler,
                                                                  watchdog: w, watchdogHealthy: healthy,
                                                                  retryCadence: flusher.retryCadence))
        case .poll:
            let hit = scheduler.pollNow(req.playlists)
            if let asked = req.playlists, hit.count != asked.count {
                let unknown = Set(asked).subtracting(hit).sorted()
                let which = components.config.instance.shard.map { "not configured or not in this instance's shard \($0.description)" }
                    ?? "not configured"
                return .failure("\(which): \(unknown.joined(separator: ", "))")
            }
            return ControlResponse(ok: true, message: "\(hit.count) playlist(s) due now")
        case .flush:
            let r = flusher.queue.sync { flusher.flushNow() }
            if let f = r.failure { return ControlResponse(ok: false, error: "upload failed: \(f.description)") }
            return ControlResponse(ok: true, message: "sealed \(r.sealed), uploaded \(r.uploaded) batch(es)"
                                   + (r.lastKey.map { ", last \($0)" } ?? ""))
        }
    }
}
