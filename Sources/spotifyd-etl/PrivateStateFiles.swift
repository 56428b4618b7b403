import ETLCore
import Glibc

/// Owner-only files for what `login` writes outside the unit. The service gets its modes from
/// systemd (`StateDirectory=`, `UMask=`), but `login` runs from whatever shell the operator has
/// — often root's, umask 022 — and stores a refresh token: left to the umask, the state
/// directory would be 0755 and the database 0644, a secret in a world-readable file.
///
/// So modes are explicit, never umask-derived: directories this creates are 0700, and the
/// database and its SQLite side files are 0600 — created so, and tightened if they exist with
/// looser modes. (SQLite gives the `-wal`/`-shm`/`-journal` files it creates later the mode of
/// the database file.) Directories that already exist are left alone: the state path's parent
/// may be a shared directory (`/tmp`, a home directory) whose mode is not ours to change.
enum PrivateStateFiles {
    static let directoryMode: mode_t = 0o700
    static let fileMode: mode_t = 0o600
    /// SQLite's side files of a database at `path`.
    static let sideSuffixes = ["-wal", "-shm", "-journal"]

    struct Failure: Error, CustomStringConvertible {
        let operation: String
        let path: String
        let errno: Int32
        var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    }

    /// Creates the missing directories of `directory` (0700 each) and the database file at
    /// `databasePath` (0600); tightens an existing database or side file to 0600.
    static func prepare(directory: String, databasePath: String) throws(Failure) {
        try makeDirectories(directory)
        try ensurePrivateFile(databasePath, create: true)
        for suffix in sideSuffixes { try ensurePrivateFile(databasePath + suffix, create: false) }
    }

    /// `mkdir -p` with mode 0700 for every directory it creates, whatever the umask.
    static func makeDirectories(_ directory: String) throws(Failure) {
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + component
            if mkdir(prefix, directoryMode) == 0 {
                // mkdir's mode passed through the umask; set it exactly.
                guard chmod(prefix, directoryMode) == 0 else { throw Failure(operation: "chmod", path: prefix, errno: errno) }
                continue
            }
            let e = errno
            var st = stat()
            guard e == EEXIST, stat(prefix, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
                throw Failure(operation: "mkdir", path: prefix, errno: e == EEXIST ? ENOTDIR : e)
            }
        }
    }

    /// Opens (or, with `create`, creates) `path` and sets its permission bits to 0600 unless
    /// they already are. A missing file without `create` is fine: there is nothing to protect.
    static func ensurePrivateFile(_ path: String, create: Bool) throws(Failure) {
        let flags = O_RDWR | O_CLOEXEC | O_NOCTTY | (create ? O_CREAT : 0)
        let fd = open(path, flags, fileMode)
        if fd < 0 {
            if !create && errno == ENOENT { return }
            throw Failure(operation: "open", path: path, errno: errno)
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw Failure(operation: "stat", path: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Failure(operation: "open", path: path, errno: EINVAL) }
        if st.st_mode & 0o7777 != fileMode {
            guard fchmod(fd, fileMode) == 0 else { throw Failure(operation: "chmod", path: path, errno: errno) }
        }
    }
}
