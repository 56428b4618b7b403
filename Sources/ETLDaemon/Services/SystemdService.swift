import ETLCore
import ETLHealth
import FoundationEssentials
import Dispatch
import ServiceLifecycle
import Synchronization

/// The daemon's face to systemd: READY=1 once every service is started, the one-line STATUS=
/// every second (on its own queue: it reads the state database), WATCHDOG=1 pings from the
/// progress watchdog, and STOPPING=1 last. It is first in the group, so it is shut down last:
/// the watchdog keeps pinging while polls drain and the final flush runs.
struct SystemdService: Service {
    let notifier: SystemdNotifier
    let watchdog: ProgressWatchdog
    let statusLine: @Sendable () -> String
    let startedMessage: @Sendable () -> Void

    func run() async throws {
        watchdog.start()
        notifier.ready()
        let queue = DispatchQueue(label: "spotifyd-etl.status-line")
        let t = DispatchSource.makeTimerSource(queue: queue)
        let last = LastStatus()
        t.schedule(deadline: .now(), repeating: 1, leeway: .milliseconds(200))
        t.setEventHandler { [notifier, statusLine] in
            let line = statusLine()
            if last.changed(line) { notifier.status(line) }
        }
        t.resume()
        startedMessage()
        try? await gracefulShutdown()
        t.cancel()
        watchdog.stop()
        notifier.stopping()
    }
}

/// The last STATUS= text sent, so an unchanged line is not sent again every second.
final class LastStatus: Sendable {
    private let text = Guarded("")
    func changed(_ line: String) -> Bool {
        text.withLock { t in
            guard t != line else { return false }
            t = line
            return true
        }
    }
}
