/// sysexits(3) codes the CLI and the unit file agree on.
public enum ExitCode {
    public static let ok: Int32 = 0
    public static let failure: Int32 = 1
    /// `check-config --online`: a remote check (Spotify token or playlist, S3 credentials,
    /// write or delete) failed; the config itself is valid (sysexits EX_UNAVAILABLE).
    public static let unavailable: Int32 = 69
    /// The state database is corrupt, not a database, or written by a newer version: no restart
    /// can fix that, an operator must restore or move it (sysexits EX_DATAERR). The unit lists
    /// it in `RestartPreventExitStatus=`, so systemd does not restart into the same failure.
    public static let dataError: Int32 = 65
    /// Some work deferred (rate limit, retries exhausted, failed write); nothing lost.
    public static let tempFail: Int32 = 75
    /// Bad configuration; `RestartPreventExitStatus=78` stops a restart loop.
    public static let config: Int32 = 78
}
