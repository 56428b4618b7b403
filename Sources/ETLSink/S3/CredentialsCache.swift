import FoundationEssentials

/// Cached credentials and the refresh rule shared by the chain and the IMDS provider. Pure: the
/// caller holds it under its lock and passes the clock's time and the fetch.
///
/// Temporary credentials are refreshed from `refreshMargin` before they expire, but a refresh
/// that fails does not throw them away: they still sign until they actually expire. A blip
/// of the source (IMDS restarting, a timeout) inside the refresh window therefore costs
/// nothing; a failed refresh is tried again after a pause (1 s doubling to 60 s), not on every
/// request. Only when nothing valid is cached does the fetch's error reach the caller.
struct CredentialsCache: Sendable {
    static let firstRetry: TimeInterval = 1
    static let maxRetry: TimeInterval = 60

    private(set) var value: AWSCredentials?
    /// Refresh attempts that failed since the last success.
    private(set) var failures = 0
    /// No refresh before this while the cached value is still valid.
    private(set) var retryAt: Date?

    /// Valid at `now`: long-term credentials, or temporary ones not yet expired.
    static func isValid(_ c: AWSCredentials, now: Date) -> Bool {
        guard let exp = c.expiration else { return true }
        return now < exp
    }

    mutating func get(now: Date, refreshMargin: TimeInterval, fetch: () throws -> AWSCredentials) throws -> AWSCredentials {
        if let c = value, !Self.needsRefresh(c, now: now, margin: refreshMargin) { return c }
        if let c = value, Self.isValid(c, now: now), let retryAt, now < retryAt { return c }
        do {
            let fresh = try fetch()
            value = fresh
            failures = 0
            retryAt = nil
            return fresh
        } catch {
            guard let c = value, Self.isValid(c, now: now) else {
                value = nil
                throw error
            }
            failures += 1
            retryAt = now.addingTimeInterval(min(Self.maxRetry, Self.firstRetry * Double(1 << min(failures - 1, 16))))
            return c
        }
    }

    mutating func invalidate() {
        value = nil
        failures = 0
        retryAt = nil
    }

    static func needsRefresh(_ c: AWSCredentials, now: Date, margin: TimeInterval) -> Bool {
        guard let exp = c.expiration else { return false }
        return exp.timeIntervalSince(now) < margin
    }
}
