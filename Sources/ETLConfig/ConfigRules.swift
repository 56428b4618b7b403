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

    /// An S3 key prefix: relative, and every `/`-separated segment non-empty and neither `.`
    /// nor `..`. curl (like most HTTP clients and proxies) removes dot segments from a URL
    /// path (RFC 3986 §5.2.4: `a/./b` → `a/b`, `x/../y` → `y`) while the SigV4 signature covers
    /// the key as written, so every PUT would fail its signature; an empty segment (`a//b`)
    /// makes keys that proxies and path-based tools collapse the same way. One trailing `/` is the separator
    /// before the table name and is allowed (the loader adds it when missing). "" means no prefix.
    static func s3PrefixProblem(_ prefix: String) -> String? {
        guard !prefix.isEmpty else { return nil }
        guard !prefix.hasPrefix("/") else { return "must not start with \"/\" (S3 keys are relative)" }
        let body = prefix.hasSuffix("/") ? prefix.dropLast() : Substring(prefix)
        for segment in body.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "must not contain an empty segment (\"//\")" }
            if segment == "." || segment == ".." {
                return "must not contain a \"\(segment)\" segment (URL normalisation would change the signed key)"
            }
        }
        return nil
    }

    /// `[instance] id`: 1–32 of lowercase ASCII letters, digits and `-`. It goes into object
    /// names verbatim, so nothing that S3, a shell or a Snowflake PATTERN treats specially.
    static func instanceIDProblem(_ s: String) -> String? {
        guard (1...ConfigBounds.instanceIDMaximumLength).contains(s.utf8.count) else {
            return "must be 1 to \(ConfigBounds.instanceIDMaximumLength) characters"
        }
        guard s.utf8.allSatisfy({ (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }) else {
            return "may contain only lowercase letters a-z, digits and '-'"
        }
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

    /// `[metrics] listen`: `HOST:PORT` where HOST is an IPv4 literal, an IPv6 literal in
    /// brackets, or `localhost`, and PORT is 1–65535. Host names other than localhost are
    /// refused on purpose: what is exposed must be visible in the config, not in DNS.
    static func listenAddress(_ text: String) -> Result<AppConfig.Metrics.Listen, RuleError> {
        let example = "expected \"HOST:PORT\" with an IPv4 address, an [IPv6] address or localhost, e.g. \"127.0.0.1:9464\""
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(.init("\(example); missing \"]\"")) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(.init("\(example); no port after the IPv6 address")) }
            portText = rest.dropFirst()
            guard isIPv6(host) else { return .failure(.init("the host in brackets must be an IPv6 address")) }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(.init("\(example); no port")) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") {
                return .failure(.init("an IPv6 address must be in brackets, e.g. \"[::1]:9464\""))
            }
            guard host == "localhost" || isIPv4(host) else {
                return .failure(.init("host must be an IPv4 address, an [IPv6] address or localhost (not a host name)"))
            }
        }
        guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ (48...57).contains($0) }),
              let port = Int(portText), (1...65535).contains(port) else {
            return .failure(.init("port must be a number from 1 to 65535"))
        }
        return .success(.init(host: String(host), port: port))
    }

    /// Dotted-quad IPv4: four decimal octets 0–255, no leading zeros (which some parsers read as octal).
    static func isIPv4<S: StringProtocol>(_ s: S) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            (1...3).contains(p.count) && p.utf8.allSatisfy { (48...57).contains($0) }
                && !(p.count > 1 && p.hasPrefix("0")) && Int(p)! <= 255
        }
    }

    /// RFC 4291 text form: up to eight 1–4 digit hex groups, at most one "::", optionally
    /// ending in a dotted-quad IPv4 (two groups). No zone id.
    static func isIPv6<S: StringProtocol>(_ s: S) -> Bool {
        let str = String(s)
        guard !str.isEmpty, str.utf8.count <= 45 else { return false }
        let halves = str.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { return false }
        func groups(_ part: String, last: Bool) -> Int? {
            if part.isEmpty { return 0 }
            var n = 0
            let items = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, g) in items.enumerated() {
                if last, i == items.count - 1, g.contains(".") {
                    guard isIPv4(g) else { return nil }
                    n += 2
                    continue
                }
                guard (1...4).contains(g.count), g.utf8.allSatisfy({ (48...57).contains($0) || (65...70).contains($0) || (97...102).contains($0) })
                else { return nil }
                n += 1
            }
            return n
        }
        if halves.count == 1 { return groups(halves[0], last: true) == 8 }
        guard let a = groups(halves[0], last: false), let b = groups(halves[1], last: true) else { return false }
        return a + b <= 7
    }

    struct RuleError: Error { let message: String; init(_ m: String) { message = m } }
}
