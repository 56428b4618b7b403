/// Facts are the cleaned, validated content of API objects, before they become rows. Keeping
/// them separate from `Row` lets the pipeline decide which dimension rows to write (the state
/// DB's seen set) without re-parsing anything.

public struct ArtistFact: Sendable, Equatable, Hashable {
    public var id: String
    public var name: String
    /// Nil when the API object was a simplified artist (track/album `artists`), which carries
    /// no genres; `[]` when a full artist has none. The difference drives `isComplete`.
    public var genres: [String]?
    public var followers: Int?
    public var popularity: Int?

    public init(id: String, name: String, genres: [String]? = nil, followers: Int? = nil, popularity: Int? = nil) {
        self.id = id; self.name = name; self.genres = genres; self.followers = followers; self.popularity = popularity
    }

    /// True for a full artist object (genres known).
    public var isComplete: Bool { genres != nil }

    /// Combines two facts about the same artist: `later` wins field by field where it has a
    /// value, so a simplified artist seen after a full one never erases its genres.
    public func merged(with later: ArtistFact) -> ArtistFact {
        ArtistFact(id: id, name: later.name.isEmpty ? name : later.name, genres: later.genres ?? genres,
                   followers: later.followers ?? followers, popularity: later.popularity ?? popularity)
    }
}

public struct AlbumFact: Sendable, Equatable, Hashable {
    public var id: String
    public var name: String
    public var albumType: String
    /// `YYYY-MM-DD`, padded with `-01` for year/month precision.
    public var releaseDate: String
    /// As the API gave it (`year`, `month`, `day`), or inferred from the date's length.
    public var releaseDatePrecision: String
    public var releaseYear: Int
    public var totalTracks: Int
    public var artists: [ArtistFact]

    public init(id: String, name: String, albumType: String, releaseDate: String, releaseDatePrecision: String,
                releaseYear: Int, totalTracks: Int, artists: [ArtistFact]) {
        self.id = id; self.name = name; self.albumType = albumType; self.releaseDate = releaseDate
        self.releaseDatePrecision = releaseDatePrecision; self.releaseYear = releaseYear
        self.totalTracks = totalTracks; self.artists = artists
    }
}

public struct TrackFact: Sendable, Equatable, Hashable {
    public var id: String
    public var name: String
    public var durationMs: Int
    public var explicit: Bool
    public var discNumber: Int
    public var trackNumber: Int
    public var isrc: String?
    public var popularity: Int?
    public var album: AlbumFact
    public var artists: [ArtistFact]
    public var uri: String

    public init(id: String, name: String, durationMs: Int, explicit: Bool, discNumber: Int, trackNumber: Int,
                isrc: String?, popularity: Int?, album: AlbumFact, artists: [ArtistFact], uri: String) {
        self.id = id; self.name = name; self.durationMs = durationMs; self.explicit = explicit
        self.discNumber = discNumber; self.trackNumber = trackNumber; self.isrc = isrc
        self.popularity = popularity; self.album = album; self.artists = artists; self.uri = uri
    }
}

public struct EpisodeFact: Sendable, Equatable, Hashable {
    public var id: String
    public var name: String
    public var durationMs: Int
    public var explicit: Bool
    public var showID: String
    public var showName: String
    /// Padded `YYYY-MM-DD`, or nil when absent or unparseable.
    public var releaseDate: String?

    public init(id: String, name: String, durationMs: Int, explicit: Bool, showID: String, showName: String,
                releaseDate: String?) {
        self.id = id; self.name = name; self.durationMs = durationMs; self.explicit = explicit
        self.showID = showID; self.showName = showName; self.releaseDate = releaseDate
    }
}

/// A local file in a playlist: no Spotify id, keyed by its `spotify:local:` URI.
public struct LocalFact: Sendable, Equatable, Hashable {
    public var uri: String
    public var name: String
    public init(uri: String, name: String) { self.uri = uri; self.name = name }
}

/// Where and when an entry sits in its snapshot.
public struct EntryContext: Sendable, Equatable, Hashable {
    public var position: Int
    /// Contract form (`...Z`), nil when the API gave null.
    public var addedAt: String?
    /// The adding user's id, nil when the API gave null.
    public var addedBy: String?
    public init(position: Int, addedAt: String?, addedBy: String?) {
        self.position = position; self.addedAt = addedAt; self.addedBy = addedBy
    }
}
