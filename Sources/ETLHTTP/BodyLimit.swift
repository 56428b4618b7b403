/// The most bytes of a response body a client keeps, per kind of endpoint. Counted after
/// content decoding (curl inflates gzip/deflate/br before our write callback sees the bytes),
/// so a small compressed answer that inflates past its limit is stopped as early as a large
/// plain one. One place for every limit, so a peer that sends more than any sane answer costs
/// a bounded amount of memory, never the process.
public enum BodyLimit {
    /// A Web API page: 50 playlist entries, a playlist's metadata with its embedded first 100
    /// entries, 50 artists. Real pages are well under 1 MiB; 16 MiB leaves room for long names
    /// and descriptions.
    public static let apiPage = 16 << 20
    /// An OAuth token reply (a few hundred bytes in practice).
    public static let token = 64 << 10
    /// The body of a non-2xx answer from any peer: it is read only for a message, a code or a
    /// reason, so its first 64 KiB are kept and the rest is not read (see `HTTPRequest.maxErrorBodyBytes`).
    public static let error = 64 << 10
    /// An EC2 instance-metadata answer (a session token, a role name, a credentials document).
    public static let imds = 64 << 10
    /// An S3 XML answer (ListObjectsV2 pages of ≤ 1000 keys, multipart initiate/complete).
    public static let s3XML = 1 << 20
    /// An S3 object read back whole (`S3Client.getObject`: verification and tests only): the
    /// largest single PutObject S3 takes.
    public static let s3Object = 5 << 30
    /// What a request gets when its caller names no limit: the largest limit any production
    /// endpoint reads, so a forgotten limit still bounds memory.
    public static let standard = apiPage

    /// `16 MiB`, `64 KiB`, `1 MiB`: a limit as log lines and errors name it.
    public static func describe(_ bytes: Int) -> String {
        if bytes >= 1 << 30, bytes % (1 << 30) == 0 { return "\(bytes >> 30) GiB" }
        if bytes >= 1 << 20, bytes % (1 << 20) == 0 { return "\(bytes >> 20) MiB" }
        if bytes >= 1 << 10, bytes % (1 << 10) == 0 { return "\(bytes >> 10) KiB" }
        return "\(bytes) bytes"
    }
}
