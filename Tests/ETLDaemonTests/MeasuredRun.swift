import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended, with its peak resident set from `wait4`'s rusage.
struct MeasuredRun {
    enum Ending: Equatable {
        case exited(Int32)
        case signalled(Int32)
        /// Still running at the hang guard's deadline; killed by the test (SIGKILL).
        case hung
    }

    var ending: Ending
    /// `ru_maxrss` of the child, in KiB (Linux).
    var peakRSSKiB: Int
    var stdout: String
    var stderr: String

    var peakRSSMiB: Double { Double(peakRSSKiB) / 1024 }

    /// Forks and execs the command, waits with wait4 (bounded by the hang guard) and writes
    /// `{"status", "maxrss_kib", "hung"}` to the file named by argv[1]. It runs as its own small
    /// process because Linux keeps a process's `ru_maxrss` across exec as the high-water mark
    /// of the memory it replaced: a child spawned straight from the test process (vfork or
    /// fork) would report the test runner's peak, not its own. Forked from this ~10 MB helper,
    /// the child starts from the helper's pages instead.
    static let helper = """
    import json, os, signal, sys, time
    out, guard, argv = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    deadline, hung = time.monotonic() + guard, False
    while True:
        p, status, ru = os.wait4(pid, os.WNOHANG)
        if p == pid:
            break
        if not hung and time.monotonic() > deadline:
            hung = True
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)
    with open(out, "w") as f:
        json.dump({"status": status, "maxrss_kib": ru.ru_maxrss, "hung": hung}, f)
    """

    /// Runs `path` with `args` and `env`, stdout and stderr to files in `dir`, through
    /// `helper`, which reports how the child ended and its own peak RSS. `hangGuard` only
    /// bounds a wedged child so the suite cannot hang: it is not an assertion about speed.
    static func run(_ path: String, _ args: [String], env: [String: String], in dir: URL,
                    hangGuard: TimeInterval = 120) throws -> MeasuredRun {
        let tag = UUID().uuidString
        let outPath = dir.appendingPathComponent("stdout-\(tag)").path
        let errPath = dir.appendingPathComponent("stderr-\(tag)").path
        let resultPath = dir.appendingPathComponent("rusage-\(tag).json").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let command = ["python3", "-c", helper, resultPath, String(hangGuard), path] + args
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, "python3", &actions, nil, argv, envp)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }
        var helperStatus: Int32 = 0
        while waitpid(pid, &helperStatus, 0) < 0 && errno == EINTR {}

        guard let data = FileManager.default.contents(atPath: resultPath),
              let result = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let status = (result["status"] as? NSNumber)?.int32Value,
              let maxrss = (result["maxrss_kib"] as? NSNumber)?.intValue else {
            throw POSIXError(.EIO)
        }
        let ending: Ending
        if result["hung"] as? Bool == true {
            ending = .hung
        } else if status & 0x7f == 0 {
            ending = .exited((status >> 8) & 0xff)
        } else {
            ending = .signalled(status & 0x7f)
        }
        return MeasuredRun(ending: ending, peakRSSKiB: maxrss,
                           stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
                           stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
    }
}
