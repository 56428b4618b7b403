import CSystemd
import ETLCore
import FoundationEssentials
import Glibc

/// Speaks the sd_notify(3) protocol to the service manager. libsystemd reads `NOTIFY_SOCKET`
/// (including abstract `@` sockets) at call time, so tests can bind a socket and `setenv` it.
/// Every call is a no-op when `NOTIFY_SOCKET` is unset: the same binary runs under systemd,
/// in a terminal, and in tests without branching at call sites.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// True when a service manager is listening for our notifications.
    public var isEnabled: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Sends one raw datagram (`KEY=value` lines). Returns true when it was delivered.
    @discardableResult
    public func send(_ state: String) -> Bool {
        guard isEnabled else { return false }
        return sd_notify(0, state) > 0
    }

    /// Startup finished: systemd moves the unit from "activating" to "active".
    @discardableResult public func ready() -> Bool { send("READY=1") }

    /// One-line human status shown by `systemctl status`. Newlines would start a new
    /// assignment in the datagram, so they are flattened; secrets are redacted.
    @discardableResult public func status(_ text: String) -> Bool {
        let line = Redaction.redact(text).replacing("\r", with: " ")
            .replacing("\n", with: " ")
        return send("STATUS=" + line)
    }

    /// Keep-alive for `WatchdogSec=`. Call only through `ProgressWatchdog`, which pings only
    /// when the daemon is really making progress.
    @discardableResult public func watchdogPing() -> Bool { send("WATCHDOG=1") }

    @discardableResult public func stopping() -> Bool { send("STOPPING=1") }

    /// `Type=notify-reload` requires MONOTONIC_USEC with RELOADING=1 so systemd can tell this
    /// reload apart from an earlier one.
    @discardableResult public func reloading() -> Bool {
        send("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())")
    }

    /// Asks for more time during a slow start or stop (e.g. draining the outbox).
    @discardableResult public func extendTimeout(usec: UInt64) -> Bool { send("EXTEND_TIMEOUT_USEC=\(usec)") }

    /// The watchdog interval systemd expects pings within (WATCHDOG_USEC, honouring
    /// WATCHDOG_PID), or nil when the watchdog is off for this process.
    public func watchdogInterval() -> Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(clamping: usec))
    }

    /// CLOCK_MONOTONIC in microseconds, the clock systemd compares RELOADING against.
    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1_000
    }
}

extension Duration {
    /// Seconds as a Double, for timers and Date arithmetic.
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
