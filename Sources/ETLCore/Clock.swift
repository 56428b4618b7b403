import FoundationEssentials

/// Time source, injectable so tests of watermarks, batching ages and rate gates need no sleeps.
public protocol Clock: Sendable {
    func now() -> Date
}

public struct SystemClock: Clock {
    public init() {}
    public func now() -> Date { Date() }
}
