import FoundationEssentials

/// The S3 sink's own settings. ETLSink does not depend on ETLConfig; the daemon maps
/// `AppConfig.S3` onto this.
public struct S3Settings: Sendable, Equatable {
    public var bucket: String
    /// Prepended to every object key ("warehouse/spotify/").
    public var prefix: String
    public var region: String
    /// nil = AWS (`https://s3.<region>.amazonaws.com`). http:// only for loopback hosts.
    public var endpoint: String?
    /// Path-style (`host/bucket/key`) instead of virtual-hosted (`bucket.host/key`).
    public var pathStyle: Bool
    /// Objects of at least this many bytes go up as multipart uploads.
    public var multipartThreshold: Int
    public var storageClass: String?
    /// Shared-credentials-file profile; nil = AWS_PROFILE or "default".
    public var profile: String?
    /// Multipart part size; S3 requires ≥ 5 MiB for all but the last part.
    public var partSize: Int

    public init(bucket: String, prefix: String = "", region: String = "us-east-1", endpoint: String? = nil,
                pathStyle: Bool = false, multipartThreshold: Int = 16 << 20, storageClass: String? = nil,
                profile: String? = nil, partSize: Int = 8 << 20) {
        self.bucket = bucket
        self.prefix = prefix
        self.region = region
        self.endpoint = endpoint
        self.pathStyle = pathStyle
        self.multipartThreshold = multipartThreshold
        self.storageClass = storageClass
        self.profile = profile
        self.partSize = partSize
    }
}

/// Bad S3 configuration. The daemon maps it to exit 78 (`ExitCode.config`): retrying cannot help.
public struct S3ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "invalid S3 configuration: \(message)" }
}

/// Where requests go, resolved once from the settings and validated.
public struct S3Endpoint: Sendable, Equatable {
    public var scheme: String
    /// host[:port] as it appears in the URL and in the Host header.
    public var authority: String
    /// Prefix of every request path: "/bucket" for path style, "" for virtual-hosted.
    public var bucketPath: String

    public init(settings: S3Settings) throws {
        let b = settings.bucket
        guard !b.isEmpty, b.count >= 3, b.count <= 63,
              b.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 })
        else { throw S3ConfigError("bucket name \"\(b)\" is not a valid S3 bucket name") }
        guard !settings.region.isEmpty else { throw S3ConfigError("region is empty") }
        guard settings.partSize >= 5 << 20 else { throw S3ConfigError("part size must be at least 5 MiB") }
        guard settings.multipartThreshold >= settings.partSize || settings.multipartThreshold >= 5 << 20 else {
            throw S3ConfigError("multipart_threshold must be at least 5 MiB")
        }
        var scheme = "https"
        var authority = "s3.\(settings.region).amazonaws.com"
        if let ep = settings.endpoint, !ep.isEmpty {
            guard let sep = ep.firstRange(of: "://") else { throw S3ConfigError("endpoint \"\(ep)\" has no scheme") }
            scheme = ep[..<sep.lowerBound].lowercased()
            var rest = String(ep[sep.upperBound...])
            while rest.hasSuffix("/") { rest.removeLast() }
            guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?") else {
                throw S3ConfigError("endpoint \"\(ep)\" must be scheme://host[:port] without a path")
            }
            authority = rest
            guard scheme == "https" || scheme == "http" else { throw S3ConfigError("endpoint scheme must be https or http") }
            if scheme == "http" && !S3Endpoint.isLoopback(authority: authority) {
                throw S3ConfigError("endpoint \"\(ep)\" uses http:// with a non-loopback host; use https:// (http is allowed only for 127.0.0.0/8, ::1, localhost)")
            }
        }
        self.scheme = scheme
        if settings.pathStyle {
            self.authority = authority
            self.bucketPath = "/" + b
        } else {
            self.authority = b + "." + authority
            self.bucketPath = ""
        }
    }

    /// The host of an authority ("127.0.0.1:9000", "[::1]:80", "localhost") is loopback.
    public static func isLoopback(authority: String) -> Bool {
        var host = authority
        if host.hasPrefix("[") {
            guard let end = host.firstIndex(of: "]") else { return false }
            host = String(host[host.index(after: host.startIndex)..<end])
            return host == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = String(host[..<colon]) }
        host = host.lowercased()
        if host == "localhost" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }

    /// The wire path of a key: each byte outside the unreserved set (and `/`) percent-encoded,
    /// so `=` is %3D, space %20, `+` %2B — exactly what the S3 canonical request needs.
    public func path(forKey key: String) -> String {
        bucketPath + "/" + SigV4Signer.uriEncode(key, keepSlash: true)
    }

    public func url(path: String, query: String) -> String {
        "\(scheme)://\(authority)\(path)" + (query.isEmpty ? "" : "?" + query)
    }
}
