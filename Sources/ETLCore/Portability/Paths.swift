import Glibc

/// The two `NSString` path operations we used, on plain strings.
public enum Paths {
    /// `a/b`, without doubling a slash.
    public static func join(_ directory: String, _ name: String) -> String {
        if directory.isEmpty { return name }
        return directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// The parent directory: `/a/b` → `/a`, `b` → `` , `/b` → `/`.
    public static func parent(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1, p.hasSuffix("/") { p = p.dropLast() }
        guard let slash = p.lastIndex(of: "/") else { return "" }
        if slash == p.startIndex { return "/" }
        var parent = p[..<slash]
        while parent.count > 1, parent.hasSuffix("/") { parent = parent.dropLast() }
        return String(parent)
    }

    /// `mkdir -p` (mode 0755, less the umask). The error names the errno text, e.g.
    /// "Permission denied", for the one-line config error an operator reads.
    public static func makeDirectories(_ path: String) throws(PathError) {
        var built = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            built += built.isEmpty || built.hasSuffix("/") ? String(part) : "/" + part
            if mkdir(built, 0o755) != 0 {
                let code = errno
                var st = stat()
                if code == EEXIST, stat(built, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR { continue }
                throw PathError(reason: code == EEXIST ? "\(built) exists and is not a directory" : String(cString: strerror(code)))
            }
        }
    }
}

/// Why a filesystem path operation failed, in the OS's words.
public struct PathError: Error, Sendable {
    public var reason: String
}
