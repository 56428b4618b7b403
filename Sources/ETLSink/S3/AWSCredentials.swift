import FoundationEssentials

/// A set of AWS credentials. `description` never shows the secret or the session token, so
/// the value can be interpolated into logs and errors without leaking anything.
public struct AWSCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary credentials stop working; nil for long-term keys.
    public var expiration: Date?
    /// Where they came from ("environment", "credentials-directory", "shared-file:default", "imds:role").
    public var source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil, source: String = "static") {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
        self.source = source
    }

    /// The secrets a redactor must scrub from any text.
    public var secrets: [String] { [secretAccessKey] + (sessionToken.map { [$0] } ?? []) }

    public var description: String {
        "AWSCredentials(accessKeyID: \(accessKeyID), secret: [REDACTED]\(sessionToken == nil ? "" : ", sessionToken: [REDACTED]"), source: \(source))"
    }
    public var debugDescription: String { description }
}
