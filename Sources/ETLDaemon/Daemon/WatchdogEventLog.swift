import ETLCore
import ETLHealth
import Logging

/// The journal lines for `WatchdogEvent`s. A withheld ping is a warning: systemd kills the
/// service once WATCHDOG_USEC passes without one, and its own "Watchdog timeout" line does not
/// say which part of the daemon was stuck.
enum WatchdogEventLog {
    static func log(_ event: WatchdogEvent, to logger: Logger) {
        switch event {
        case .withheld(let verdict):
            var meta: Logger.Metadata = ["watchdog": "\(verdict.description)"]
            if case .stalled(_, _, let doing) = verdict { meta["doing"] = "\(doing)" }
            logger.warning("watchdog: pings withheld (\(verdict.description)); systemd restarts the service if this lasts WATCHDOG_USEC",
                           metadata: meta)
        case .resumed(let after):
            logger.notice("watchdog: pings resumed", metadata: ["after": "\(after)"])
        case .undeliverable:
            logger.warning("watchdog: a ping could not be sent to NOTIFY_SOCKET")
        case .deliveryRestored:
            logger.notice("watchdog: pings reach NOTIFY_SOCKET again")
        case .late(let gap, let interval):
            logger.warning("watchdog: ping \(s1(gap)) after the previous one (WATCHDOG_USEC \(s1(interval))): the process was starved of CPU or its timer ran late",
                           metadata: ["gap_s": "\(s1(gap))"])
        }
    }

    private static func s1(_ v: Double) -> String { cFormat("%.1f s", v) }
}
