/// How much text one API answer can make the daemon keep. Every value a page or a playlist
/// object supplies is copied several times on its way out (facts, rows, outbox blobs, SQLite,
/// the encoded batch), so a body cap alone (16 MiB, `ETLHTTP.BodyLimit`) still lets one answer
/// cost several times its size. These bounds keep what one answer adds to the daemon's peak
/// memory small (the target is 64 MB above its baseline), each far above anything Spotify sends.
/// They are the one source of truth: the decoders, the docs and the tests read them from here.
public enum AnswerLimits {
    /// `snapshot_id`: Spotify's are opaque base64-like tokens of about 32–60 characters. Every
    /// `playlist_items` row carries it, so its size is multiplied by the number of events.
    public static let snapshotIDBytes = 256

    /// A playlist `id` (base-62, 22 characters). It keys the state and every row of the playlist.
    public static let playlistIDBytes = 64

    /// Each of a playlist's name, description and owner display name. Spotify allows 100
    /// characters of name and 300 of description (at most 4 UTF-8 bytes each).
    public static let playlistTextBytes = 64 * 1024

    /// The text one item entry becomes (`ParsedEntry.keptTextBytes`: every string that turns
    /// into a row value). Real entries keep under 4 KiB even with long classical titles and many
    /// credits; 64 KiB is 16 times that, and caps what a 50-entry page keeps at 3.2 MiB.
    public static let entryTextBytes = 64 * 1024

    /// Artists in one list (a track's `artists`, its album's `artists`). Each one becomes an
    /// artist fact, a seen-set lookup, an enrichment request slot and possibly a row, so the
    /// count multiplies work independently of the text. Credits on real tracks stay well
    /// under a hundred.
    public static let artistsPerList = 256

    /// A reject's `raw` column: the canonical entry text, cut here (at a UTF-8 character
    /// boundary) with a marker naming the original length (`RejectRaw`). 8 KiB holds a whole
    /// real entry twice over.
    public static let rejectRawBytes = 8 * 1024
}
