import ETLCore

/// The documented bounds of config values, in one place so the loader, `docs/configuration.md`
/// and the tests agree. A value outside them is refused with `ConfigError.violation` set.
public enum ConfigBounds {
    // MARK: Durations (seconds)

    /// `spotify.request_timeout`. The HTTP client turns the timeout into whole milliseconds and
    /// reads 0 as "no timeout", so a sub-millisecond value used to disable the timeout; below a
    /// second no Spotify request (TLS handshake included) reliably completes anyway.
    public static let requestTimeoutMinimum: Double = 1
    /// `schedule.interval` and `playlists[].interval`. Each poll costs at least one API call
    /// per playlist; faster than every 10 s is hammering the API, not syncing.
    public static let pollIntervalMinimum: Double = 10
    /// `sink.max_age`. The flusher checks for due batches at most once a second, so a shorter
    /// age cannot be honoured.
    public static let maxAgeMinimum: Double = 1
    /// `metrics.interval`. One EMF document set per interval; below a second is a log flood.
    public static let metricsIntervalMinimum: Double = 1
    /// Longest accepted duration of any key. Keeps `Int(seconds * 1000)` conversions far from
    /// overflow.
    public static let durationMaximum: Double = 30 * 86_400

    // MARK: S3 object sizes (bytes)

    /// Object-body requests (PutObject, UploadPart) have no total timeout: `S3UploadPolicy`
    /// cuts one only after 60 s below 1 KB/s, and a cut request is resent from its first byte.
    /// So no size is "too slow to finish" — a link that keeps 1 KB/s finishes any of them —
    /// and the bounds that remain are S3's own:
    /// - every object below `multipart_threshold` goes up as one PutObject, which S3 caps at
    ///   5 GiB, so the threshold is at most 5 GiB (a larger one would let objects through that
    ///   no single PUT can carry);
    /// - at or above the threshold an object goes up in fixed 8 MiB parts (`S3Settings.partSize`;
    ///   S3 wants 5 MiB … 5 GiB per part but the last, at most 10,000 parts, so up to 80 GiB,
    ///   far above the 4 GiB `max_bytes` cap), and a threshold below the 5 MiB minimum part
    ///   size would only make small objects multipart for nothing.
    /// What a cut costs is one resend of a PUT (up to the threshold) or of one 8 MiB part.
    public static let multipartThresholdMinimum = 5 << 20
    /// S3's PutObject maximum; see `multipartThresholdMinimum`.
    public static let multipartThresholdMaximum = 5 << 30

    // MARK: Instances

    /// `instance.id`: at most this many characters of `[a-z0-9-]`. It is part of every object
    /// name, so it stays short.
    public static let instanceIDMaximumLength = 32
    /// `instance.shard_count`: 1 … this (`Shard.maximumCount`).
    public static let shardCountMaximum = Shard.maximumCount
}

/// Which documented bound a rejected value broke, so callers and tests can tell the kind of
/// problem without reading the message.
public enum ConfigViolation: Sendable, Equatable {
    /// A duration below its documented minimum, in seconds.
    case durationBelowMinimum(minimum: Double)
    /// A duration above `ConfigBounds.durationMaximum`.
    case durationAboveMaximum(maximum: Double)
    /// An S3 key prefix that would not survive URL path normalisation: a leading `/`, or an
    /// empty, `.` or `..` segment.
    case prefixSegment
    /// A size outside its documented range, in bytes.
    case sizeOutOfRange(ClosedRange<Int>)
    /// `instance.shard_count` outside 1 … `ConfigBounds.shardCountMaximum`, or
    /// `instance.shard_index` outside 0 … shard_count − 1: the accepted range.
    case shardOutOfRange(ClosedRange<Int>)
}
