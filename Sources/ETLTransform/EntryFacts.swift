// The rules that turn an item's fields into facts, in one place for both readers of an
// `/items` entry: `parseEntry` (a `JSONValue`) and the direct decoder (`FastItemsPage.swift`,
// straight from the page's bytes). Each reader only finds the fields; what a field must be,
// how text is cleaned and which reject a violation gives are decided here.

/// A field as a reader found it: nil when absent, null or of another JSON type. Integers are
/// `JSONValue.intValue` of the number (the direct decoder reproduces it exactly), text is as
/// decoded, before cleaning.
struct AlbumFields {
    var id: String?, name: String?, albumType: String?, totalTracks: Int?
    var releaseDate: String?, releaseDatePrecision: String?
    var artists: ArtistsField
}

struct TrackFields {
    var id: String?, name: String?, durationMs: Int?, explicit: Bool?
    var discNumber: Int?, trackNumber: Int?
    var artists: ArtistsField
    /// Nil when `album` is absent or not an object.
    var album: AlbumFields?
    /// `external_ids.isrc`.
    var isrc: String?
    var popularity: Int?, uri: String?
}

struct ShowFields {
    var id: String?, name: String?
}

struct EpisodeFields {
    var id: String?, name: String?, durationMs: Int?, explicit: Bool?
    /// Nil when `show` is absent or not an object.
    var show: ShowFields?
    var releaseDate: String?, releaseDatePrecision: String?
}

/// A list of simplified artists: each element read with `EntryFacts.artist`.
enum ArtistsField {
    /// Absent, null or not an array.
    case notArray
    /// An element that is not a valid artist.
    case bad
    case ok([ArtistFact])
}

/// Why an entry is not a fact: one of `RejectReason`.
struct EntryReject: Error { let reason: String }

enum EntryFacts {
    /// A simplified artist (in a track or an album): a non-empty id and a string name, or nil.
    static func artist(id: String?, name: String?) -> ArtistFact? {
        guard let id, !id.isEmpty, let name else { return nil }
        return ArtistFact(id: id, name: TextCleaning.clean(name))
    }

    static func track(_ f: consuming TrackFields) throws(EntryReject) -> TrackFact {
        let id = try requiredID(f.id, RejectReason.missingID)
        let name = try requiredName(f.name, RejectReason.missingName)
        let duration = try nonNegative(f.durationMs, RejectReason.invalidDuration)
        guard let explicit = f.explicit else { throw EntryReject(reason: RejectReason.invalidExplicit) }
        let disc = try nonNegative(f.discNumber, RejectReason.invalidDiscNumber)
        let number = try nonNegative(f.trackNumber, RejectReason.invalidTrackNumber)
        let artists = try simplified(f.artists)
        guard let a = f.album else { throw EntryReject(reason: RejectReason.missingAlbum) }
        let album = try Self.album(a)
        let isrc = f.isrc.flatMap { $0.isEmpty ? nil : TextCleaning.clean($0) }
        return TrackFact(id: id, name: name, durationMs: duration, explicit: explicit, discNumber: disc,
                         trackNumber: number, isrc: isrc, popularity: f.popularity, album: album, artists: artists,
                         uri: f.uri ?? "spotify:track:\(id)")
    }

    static func album(_ f: consuming AlbumFields) throws(EntryReject) -> AlbumFact {
        let id = try requiredID(f.id, RejectReason.missingAlbumID)
        let name = try requiredName(f.name, RejectReason.invalidAlbum)
        guard let type = f.albumType, !type.isEmpty else { throw EntryReject(reason: RejectReason.invalidAlbum) }
        let total = try nonNegative(f.totalTracks, RejectReason.invalidAlbum)
        guard let raw = f.releaseDate, let rd = TextCleaning.releaseDate(raw, precision: f.releaseDatePrecision) else {
            throw EntryReject(reason: RejectReason.invalidReleaseDate)
        }
        let artists = try simplified(f.artists)
        return AlbumFact(id: id, name: name, albumType: type.lowercased(), releaseDate: rd.date,
                         releaseDatePrecision: rd.precision, releaseYear: rd.year, totalTracks: total, artists: artists)
    }

    static func episode(_ f: consuming EpisodeFields) throws(EntryReject) -> EpisodeFact {
        let id = try requiredID(f.id, RejectReason.missingID)
        let name = try requiredName(f.name, RejectReason.missingName)
        let duration = try nonNegative(f.durationMs, RejectReason.invalidDuration)
        guard let explicit = f.explicit else { throw EntryReject(reason: RejectReason.invalidExplicit) }
        guard let show = f.show else { throw EntryReject(reason: RejectReason.missingShow) }
        let showID = try requiredID(show.id, RejectReason.missingShowID)
        let release = f.releaseDate.flatMap { TextCleaning.releaseDate($0, precision: f.releaseDatePrecision)?.date }
        return EpisodeFact(id: id, name: name, durationMs: duration, explicit: explicit, showID: showID,
                           showName: TextCleaning.clean(show.name ?? ""), releaseDate: release)
    }

    private static func requiredID(_ s: String?, _ reason: String) throws(EntryReject) -> String {
        guard let s, !s.isEmpty else { throw EntryReject(reason: reason) }
        return s
    }

    private static func requiredName(_ s: String?, _ reason: String) throws(EntryReject) -> String {
        guard let s else { throw EntryReject(reason: reason) }
        return TextCleaning.clean(s)
    }

    private static func nonNegative(_ v: Int?, _ reason: String) throws(EntryReject) -> Int {
        guard let v, v >= 0 else { throw EntryReject(reason: reason) }
        return v
    }

    private static func simplified(_ a: ArtistsField) throws(EntryReject) -> [ArtistFact] {
        switch a {
        case .notArray: throw EntryReject(reason: RejectReason.missingArtists)
        case .bad: throw EntryReject(reason: RejectReason.missingArtistID)
        case .ok(let list): return list
        }
    }
}
