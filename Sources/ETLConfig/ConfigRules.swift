import FoundationEssentials

/// Value rules that are more than a type check: URLs, regions, bucket names, markets.
/// Pure functions returning the problem as text (nil when fine), so the loader can name the key.
enum ConfigRules {
    /// A base URL: http(s), a host, no credentials, no query or fragment. Plain http is
    /// allowed only for loopback hosts, because the client secret, bearer tokens and signed
    /// S3 requests travel over these URLs. Returns the URL without trailing slashes.
    static func baseURL(_ text: String, allowPath: Bool) -> Result<String, RuleError> {
        guard let c = URLComponents(string: text), let scheme = c.scheme?.lowercased() else {
            return .failure(.init("not a valid URL; expected e.g. \"https://host\""))
        }
        guard scheme == "https" || scheme == "http" else {
            return .failure(.init("URL scheme must be http or https, got \(ConfigText.quote(scheme, limit: 16))"))
        }
        guard let host = c.host, !host.isEmpty else { return .failure(.init("URL has no host")) }
        guard c.user == nil, c.password == nil else {
            return .failure(.init("URL must not contain credentials (user:password@)"))
        }
        guard c.query == nil, c.fragment == nil else { return .failure(.init("URL must not have a query or fragment")) }
        if !allowPath, !(c.path.isEmpty || c.path == "/") { return .failure(.init("URL must not have a path")) }
        if scheme == "http", !isLoopback(host) {
            return .failure(.init("plain http:// is allowed only for loopback hosts (127.0.0.0/8, ::1, localhost); use https://"))
        }
        var out = text
        while out.hasSuffix("/") { out.removeLast() }
        return .success(out)
    }

    static func isLoopback(_ rawHost: String) -> Bool {
        var host = rawHost.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets[0] == "127" else { return false }
        return octets.allSatisfy { o in !o.isEmpty && o.count <= 3 && o.allSatisfy(\.isASCII) && (UInt8(o) != nil) }
    }

    /// ISO 3166-1 alpha-2, as Spotify's `market` parameter takes it.
    static func isMarket(_ s: String) -> Bool {
        s.utf8.count == 2 && s.utf8.allSatisfy { (65...90).contains($0) }
    }

    /// AWS region shape: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
    static func isRegion(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, !last.isEmpty,
              last.utf8.allSatisfy({ (48...57).contains($0) }) else { return false }
        return parts.dropLast().allSatisfy { p in !p.isEmpty && p.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) } }
            && parts[0].utf8.allSatisfy { (97...122).contains($0) }
    }

    /// S3 bucket naming rules: 3–63 of lowercase letters, digits, dots and hyphens,
    /// starting and ending with a letter or digit, no "..", not an IPv4 address.
    static func bucketProblem(_ s: String) -> String? {
        let u = Array(s.utf8)
        guard (3...63).contains(u.count) else { return "bucket name must be 3 to 63 characters" }
        let alnum: (UInt8) -> Bool = { (97...122).contains($0) || (48...57).contains($0) }
        guard u.allSatisfy({ alnum($0) || $0 == 46 || $0 == 45 }) else {
            return "bucket name may contain only lowercase letters, digits, '.' and '-'"
        }
        guard alnum(u.first!), alnum(u.last!) else { return "bucket name must start and end with a letter or digit" }
        guard s.firstRange(of: "..") == nil else { return "bucket name must not contain \"..\"" }
        let parts = s.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) { return "bucket name must not be an IP address" }
        return nil
    }

    static let storageClasses = ["STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                                 "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE", "OUTPOSTS", "EXPRESS_ONEZONE", "SNOW"]

    /// CloudWatch namespace: 1–255 of ASCII letters, digits and `. - _ / # : space`,
    /// not starting with "AWS/" (reserved).
    static func namespaceProblem(_ s: String) -> String? {
        guard (1...255).contains(s.utf8.count) else { return "must be 1 to 255 characters" }
        let ok = s.utf8.allSatisfy { c in
            (48...57).contains(c) || (65...90).contains(c) || (97...122).contains(c) || ". -_/#:".utf8.contains(c)
        }
        guard ok else { return "may contain only ASCII letters, digits, spaces and . - _ / # :" }
        guard !s.hasPrefix("AWS/") else { return "namespaces starting with \"AWS/\" are reserved" }
        return nil
    }

    struct RuleError: Error { let message: String; init(_ m: String) { message = m } }
}
