/// sysexits(3) codes the CLI and the unit file agree on.
public enum ExitCode {
    public static let ok: Int32 = 0
    public static let failure: Int32 = 1
    /// Some work deferred (rate limit, retries exhausted, failed write); nothing lost.
    public static let tempFail: Int32 = 75
    /// Bad configuration; `RestartPreventExitStatus=78` stops a restart loop.
    public static let config: Int32 = 78
}
