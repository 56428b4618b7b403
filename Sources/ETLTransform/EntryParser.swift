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

private struct EntryReject: Error { let reason: String }

/// Reads one entry of a playlist items page at its 0-based snapshot position.
///
/// Required contract columns (ids, names, durations, flags) missing or of the wrong type make
/// the whole entry a reject with a specific reason: writing a half-row would silently lose
/// data downstream. Columns the contract marks nullable (isrc, popularity, added_at/by,
/// episode release date) become null instead, except an `added_at` that is present but
/// unparseable, which suggests a changed API shape and is rejected.
///
/// `decodeParsedItemsPage` decodes most entries without this function, straight from the
/// page's bytes (`FastItemsPage.swift`, `Parser.evaluate`), to the same result. A change to
/// what this reads, accepts or rejects must be made there too; `FastItemsPageTests` compares
/// the two (add a key it should vary to its `readKeys`).
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
    let itemField = entry["item"], trackField = entry["track"]
    guard itemField != nil || trackField != nil else { throw EntryReject(reason: RejectReason.malformedEntry) }
    let item: JSONValue
    if let i = itemField, !i.isNull { item = i } else if let t = trackField, !t.isNull { item = t } else {
        throw EntryReject(reason: RejectReason.unavailable)
    }
    guard item.objectValue != nil else { throw EntryReject(reason: RejectReason.invalidItem) }

    var addedAt: String?
    if let raw = entry["added_at"], !raw.isNull {
        guard let s = raw.stringValue, let n = FastTimestamp.normalize(s) else {
            throw EntryReject(reason: RejectReason.invalidAddedAt)
        }
        addedAt = n
    }
    var addedBy: String?
    if let by = entry["added_by"], let id = by["id"]?.stringValue, !id.isEmpty { addedBy = id }
    let ctx = EntryContext(position: position, addedAt: addedAt, addedBy: addedBy)

    // `is_local` lives on the track object and, historically, on the entry itself.
    if item["is_local"]?.boolValue == true || (entry["is_local"]?.boolValue == true && item["id"]?.stringValue == nil) {
        guard let uri = item["uri"]?.stringValue, uri.hasPrefix("spotify:local:") else {
            throw EntryReject(reason: RejectReason.invalidLocalURI)
        }
        return .local(LocalFact(uri: uri, name: TextCleaning.clean(item["name"]?.stringValue ?? "")), ctx)
    }
    switch item["type"]?.stringValue {
    case "track": return .track(try trackFact(item), ctx)
    case "episode": return .episode(try episodeFact(item), ctx)
    default: throw EntryReject(reason: RejectReason.unknownType)
    }
}

private func requiredID(_ v: JSONValue?, _ reason: String) throws -> String {
    guard let s = v?.stringValue, !s.isEmpty else { throw EntryReject(reason: reason) }
    return s
}

private func requiredName(_ v: JSONValue?, _ reason: String) throws -> String {
    guard let s = v?.stringValue else { throw EntryReject(reason: reason) }
    return TextCleaning.clean(s)
}

private func nonNegativeInt(_ v: JSONValue?, _ reason: String) throws -> Int {
    guard let i = v?.intValue, i >= 0 else { throw EntryReject(reason: reason) }
    return i
}

private func requiredBool(_ v: JSONValue?, _ reason: String) throws -> Bool {
    guard let b = v?.boolValue else { throw EntryReject(reason: reason) }
    return b
}

/// Simplified artists as they appear in tracks and albums (no genres → incomplete facts).
private func simplifiedArtists(_ v: JSONValue?) throws -> [ArtistFact] {
    guard let list = v?.arrayValue else { throw EntryReject(reason: RejectReason.missingArtists) }
    return try list.map { a in
        guard let id = a["id"]?.stringValue, !id.isEmpty, let name = a["name"]?.stringValue else {
            throw EntryReject(reason: RejectReason.missingArtistID)
        }
        return ArtistFact(id: id, name: TextCleaning.clean(name))
    }
}

private func trackFact(_ t: JSONValue) throws -> TrackFact {
    let id = try requiredID(t["id"], RejectReason.missingID)
    let name = try requiredName(t["name"], RejectReason.missingName)
    let duration = try nonNegativeInt(t["duration_ms"], RejectReason.invalidDuration)
    let explicit = try requiredBool(t["explicit"], RejectReason.invalidExplicit)
    let disc = try nonNegativeInt(t["disc_number"], RejectReason.invalidDiscNumber)
    let number = try nonNegativeInt(t["track_number"], RejectReason.invalidTrackNumber)
    let artists = try simplifiedArtists(t["artists"])
    guard let a = t["album"], a.objectValue != nil else { throw EntryReject(reason: RejectReason.missingAlbum) }
    let album = try albumFact(a)
    let isrc = t["external_ids"]?["isrc"]?.stringValue.flatMap { $0.isEmpty ? nil : TextCleaning.clean($0) }
    let popularity = t["popularity"]?.intValue
    let uri = t["uri"]?.stringValue ?? "spotify:track:\(id)"
    return TrackFact(id: id, name: name, durationMs: duration, explicit: explicit, discNumber: disc,
                     trackNumber: number, isrc: isrc, popularity: popularity, album: album, artists: artists, uri: uri)
}

private func albumFact(_ a: JSONValue) throws -> AlbumFact {
    let id = try requiredID(a["id"], RejectReason.missingAlbumID)
    let name = try requiredName(a["name"], RejectReason.invalidAlbum)
    guard let type = a["album_type"]?.stringValue, !type.isEmpty else { throw EntryReject(reason: RejectReason.invalidAlbum) }
    let total = try nonNegativeInt(a["total_tracks"], RejectReason.invalidAlbum)
    guard let raw = a["release_date"]?.stringValue,
          let rd = TextCleaning.releaseDate(raw, precision: a["release_date_precision"]?.stringValue) else {
        throw EntryReject(reason: RejectReason.invalidReleaseDate)
    }
    let artists = try simplifiedArtists(a["artists"])
    return AlbumFact(id: id, name: name, albumType: type.lowercased(), releaseDate: rd.date,
                     releaseDatePrecision: rd.precision, releaseYear: rd.year, totalTracks: total, artists: artists)
}

private func episodeFact(_ e: JSONValue) throws -> EpisodeFact {
    let id = try requiredID(e["id"], RejectReason.missingID)
    let name = try requiredName(e["name"], RejectReason.missingName)
    let duration = try nonNegativeInt(e["duration_ms"], RejectReason.invalidDuration)
    let explicit = try requiredBool(e["explicit"], RejectReason.invalidExplicit)
    guard let show = e["show"], show.objectValue != nil else { throw EntryReject(reason: RejectReason.missingShow) }
    let showID = try requiredID(show["id"], RejectReason.missingShowID)
    let showName = TextCleaning.clean(show["name"]?.stringValue ?? "")
    let release = e["release_date"]?.stringValue.flatMap {
        TextCleaning.releaseDate($0, precision: e["release_date_precision"]?.stringValue)?.date
    }
    return EpisodeFact(id: id, name: name, durationMs: duration, explicit: explicit, showID: showID,
                       showName: showName, releaseDate: release)
}

/// The membership record of a parsed entry; nil for rejects (they are not members: a null
/// item has no key to diff by, and counting it would turn every unavailable track into a
/// remove/add pair when it comes back).
public func member(from parsed: ParsedEntry) -> Member? {
    switch parsed {
    case .track(let t, let c):
        return Member(itemKey: t.id, itemType: .track, trackID: t.id, episodeID: nil, position: c.position,
                      addedAt: c.addedAt, addedBy: c.addedBy, dims: t.dimsFingerprint)
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
