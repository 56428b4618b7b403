import ETLCore

/// The result of reading one playlist item entry: a fact with its context, or a reject that
/// keeps the entry's canonical JSON so no data is lost.
public enum ParsedEntry: Sendable, Equatable {
    case track(TrackFact, EntryContext)
    case episode(EpisodeFact, EntryContext)
    case local(LocalFact, EntryContext)
    case reject(reason: String, raw: String, position: Int)
}

/// Every reason `parseEntry` can give (`all` for the entry's shape, `bounds` for its size), in
/// one place so the contract doc and tests agree.
public enum RejectReason {
    public static let malformedEntry = "malformed_entry"       // entry not an object, or neither `item` nor `track` key
    public static let unavailable = "unavailable"              // `item` (and `track`) null
    public static let invalidItem = "invalid_item"             // item present but not an object
    public static let invalidAddedAt = "invalid_added_at"      // added_at not null and not a timestamp
    public static let unknownType = "unknown_type"             // type missing or not track/episode
    public static let missingID = "missing_id"                 // track/episode id missing or empty
    public static let missingName = "missing_name"             // name missing or not a string
    public static let invalidDuration = "invalid_duration"     // duration_ms not a non-negative integer
    public static let invalidExplicit = "invalid_explicit"     // explicit not a bool
    public static let invalidTrackNumber = "invalid_track_number"
    public static let invalidDiscNumber = "invalid_disc_number"
    public static let missingArtists = "missing_artists"       // artists not an array
    public static let missingArtistID = "missing_artist_id"    // an artist without id or name
    public static let missingAlbum = "missing_album"           // album not an object
    public static let missingAlbumID = "missing_album_id"
    public static let invalidAlbum = "invalid_album"           // album name/album_type/total_tracks invalid
    public static let invalidReleaseDate = "invalid_release_date"
    public static let missingShow = "missing_show"             // episode show not an object
    public static let missingShowID = "missing_show_id"
    public static let invalidLocalURI = "invalid_local_uri"    // is_local but uri not spotify:local:…
    /// A well-formed entry that would keep more than `AnswerLimits` allows
    /// (`ParsedEntry.isOverAnswerLimits`): over 64 KiB of text, or over 256 artists in a list.
    public static let entryTooLarge = "entry_too_large"

    public static let all: [String] = [
        malformedEntry, unavailable, invalidItem, invalidAddedAt, unknownType, missingID, missingName,
        invalidDuration, invalidExplicit, invalidTrackNumber, invalidDiscNumber, missingArtists, missingArtistID,
        missingAlbum, missingAlbumID, invalidAlbum, invalidReleaseDate, missingShow, missingShowID, invalidLocalURI,
    ]

    /// Reasons given for an entry's size rather than its shape (`AnswerLimits`). Kept apart from
    /// `all` because their rejects' `raw` is cut (`RejectRaw`): they are not the entry verbatim.
    public static let bounds: [String] = [entryTooLarge]
}

/// Reads one entry of a playlist items page at its 0-based snapshot position.
///
/// Required contract columns (ids, names, durations, flags) missing or of the wrong type make
/// the whole entry a reject with a specific reason: writing a half-row would silently lose
/// data downstream. Columns the contract marks nullable (isrc, popularity, added_at/by,
/// episode release date) become null instead, except an `added_at` that is present but
/// unparseable, which suggests a changed API shape and is rejected.
///
/// `decodeParsedItemsPage` decodes most entries without this function, straight from the
/// page's bytes (`FastItemsPage.swift`, `Parser.evaluate`), to the same result: both readers
/// only find the fields, and `EntryFacts` applies one set of rules to them. A key read here
/// must be read there too; `FastItemsPageTests` compares the two (add a key it should vary to
/// its `readKeys`).
///
/// An entry that parses but is over `AnswerLimits` (`isOverAnswerLimits`) is rejected as
/// `entry_too_large`. A reject's `raw` is `RejectRaw.text`: the canonical text, cut past
/// `AnswerLimits.rejectRawBytes`.
public func parseEntry(_ entry: JSONValue, position: Int) -> ParsedEntry {
    do {
        let parsed = try parseEntryOrThrow(entry, position: position)
        guard parsed.isOverAnswerLimits else { return parsed }
        return .reject(reason: RejectReason.entryTooLarge, raw: RejectRaw.text(entry), position: position)
    } catch let e as EntryReject {
        return .reject(reason: e.reason, raw: RejectRaw.text(entry), position: position)
    } catch {
        return .reject(reason: RejectReason.malformedEntry, raw: RejectRaw.text(entry), position: position)
    }
}

private func parseEntryOrThrow(_ entry: JSONValue, position: Int) throws -> ParsedEntry {
    guard entry.objectValue != nil else { throw EntryReject(reason: RejectReason.malformedEntry) }
    let itemField = entry[Keys.Entry.item], trackField = entry[Keys.Entry.track]
    guard itemField != nil || trackField != nil else { throw EntryReject(reason: RejectReason.malformedEntry) }
    let item: JSONValue
    if let i = itemField, !i.isNull { item = i } else if let t = trackField, !t.isNull { item = t } else {
        throw EntryReject(reason: RejectReason.unavailable)
    }
    guard item.objectValue != nil else { throw EntryReject(reason: RejectReason.invalidItem) }

    var addedAt: String?
    if let raw = entry[Keys.Entry.addedAt], !raw.isNull {
        guard let s = raw.stringValue, let n = FastTimestamp.normalize(s) else {
            throw EntryReject(reason: RejectReason.invalidAddedAt)
        }
        addedAt = n
    }
    var addedBy: String?
    if let by = entry[Keys.Entry.addedBy], let id = by[Keys.AddedBy.id]?.stringValue, !id.isEmpty { addedBy = id }
    let ctx = EntryContext(position: position, addedAt: addedAt, addedBy: addedBy)

    // `is_local` lives on the track object and, historically, on the entry itself.
    if item[Keys.Item.isLocal]?.boolValue == true || (entry[Keys.Entry.isLocal]?.boolValue == true && item[Keys.Item.id]?.stringValue == nil) {
        guard let uri = item[Keys.Item.uri]?.stringValue, uri.hasPrefix("spotify:local:") else {
            throw EntryReject(reason: RejectReason.invalidLocalURI)
        }
        return .local(LocalFact(uri: uri, name: TextCleaning.clean(item[Keys.Item.name]?.stringValue ?? "")), ctx)
    }
    switch item[Keys.Item.type]?.stringValue {
    case "track": return .track(try EntryFacts.track(trackFields(item)), ctx)
    case "episode": return .episode(try EntryFacts.episode(episodeFields(item)), ctx)
    default: throw EntryReject(reason: RejectReason.unknownType)
    }
}

// The fields `EntryFacts` decides on, as a `JSONValue` holds them.

private typealias Keys = ItemsPageKeys

private func artistsField(_ v: JSONValue?) -> ArtistsField {
    guard let list = v?.arrayValue else { return .notArray }
    var out: [ArtistFact] = []
    out.reserveCapacity(list.count)
    for a in list {
        guard let artist = EntryFacts.artist(id: a[Keys.Artist.id]?.stringValue, name: a[Keys.Artist.name]?.stringValue) else { return .bad }
        out.append(artist)
    }
    return .ok(out)
}

private func trackFields(_ t: JSONValue) -> TrackFields {
    TrackFields(id: t[Keys.Item.id]?.stringValue, name: t[Keys.Item.name]?.stringValue, durationMs: t[Keys.Item.durationMs]?.intValue,
                explicit: t[Keys.Item.explicit]?.boolValue, discNumber: t[Keys.Item.discNumber]?.intValue,
                trackNumber: t[Keys.Item.trackNumber]?.intValue, artists: artistsField(t[Keys.Item.artists]),
                album: t[Keys.Item.album].flatMap { $0.objectValue == nil ? nil : albumFields($0) },
                isrc: t[Keys.Item.externalIDs]?[Keys.ExternalIDs.isrc]?.stringValue, popularity: t[Keys.Item.popularity]?.intValue,
                uri: t[Keys.Item.uri]?.stringValue)
}

private func albumFields(_ a: JSONValue) -> AlbumFields {
    AlbumFields(id: a[Keys.Album.id]?.stringValue, name: a[Keys.Album.name]?.stringValue, albumType: a[Keys.Album.albumType]?.stringValue,
                totalTracks: a[Keys.Album.totalTracks]?.intValue, releaseDate: a[Keys.Album.releaseDate]?.stringValue,
                releaseDatePrecision: a[Keys.Album.releaseDatePrecision]?.stringValue, artists: artistsField(a[Keys.Album.artists]))
}

private func episodeFields(_ e: JSONValue) -> EpisodeFields {
    EpisodeFields(id: e[Keys.Item.id]?.stringValue, name: e[Keys.Item.name]?.stringValue, durationMs: e[Keys.Item.durationMs]?.intValue,
                  explicit: e[Keys.Item.explicit]?.boolValue,
                  show: e[Keys.Item.show].flatMap { $0.objectValue == nil ? nil : ShowFields(id: $0[Keys.Show.id]?.stringValue, name: $0[Keys.Show.name]?.stringValue) },
                  releaseDate: e[Keys.Item.releaseDate]?.stringValue, releaseDatePrecision: e[Keys.Item.releaseDatePrecision]?.stringValue)
}

/// The membership record of a parsed entry; nil for rejects (they are not members: a null
/// item has no key to diff by, and counting it would turn every unavailable track into a
/// remove/add pair when it comes back).
/// `dims`, when given, is the track's `dimsFingerprint` already computed by the caller.
public func member(from parsed: ParsedEntry, dims: UInt64? = nil) -> Member? {
    switch parsed {
    case .track(let t, let c):
        return Member(itemKey: t.id, itemType: .track, trackID: t.id, episodeID: nil, position: c.position,
                      addedAt: c.addedAt, addedBy: c.addedBy, dims: dims ?? t.dimsFingerprint)
    case .episode(let e, let c):
        return Member(itemKey: e.id, itemType: .episode, trackID: nil, episodeID: e.id, position: c.position,
                      addedAt: c.addedAt, addedBy: c.addedBy)
    case .local(let l, let c):
        return Member(itemKey: l.uri, itemType: .local, trackID: nil, episodeID: nil, position: c.position,
                      addedAt: c.addedAt, addedBy: c.addedBy)
    case .reject:
        return nil
    }
}
