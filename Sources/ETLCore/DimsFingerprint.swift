import Glibc

/// A track's dimension fingerprint: a 64-bit hash of the ids of the album and artist rows the
/// track brings with it, stored with the track's seen row (`seen.dims`). When the fingerprint
/// stored for a seen track equals the one computed from the entry in hand, that album and
/// those artists were recorded seen in the transaction that stored the fingerprint — and seen
/// rows are never deleted — so the poller need not look them up again.
///
/// Definition (stable across processes, platforms and releases; changing it only costs one
/// round of lookups, never data, but do not change it lightly):
/// - the input is the album id, then the artist ids — album artists and track artists alike
///   (both are `artists` rows) — sorted by their UTF-8 bytes, duplicates removed;
/// - each id is encoded as its UTF-8 byte count (8 bytes, little-endian) followed by its
///   bytes, so no id content can be mistaken for a boundary;
/// - the hash is 64-bit FNV-1a over the version tag `dims1` followed by those encodings.
///
/// Order and repetition of the artists therefore do not matter; which id is the album does.
public enum DimsFingerprint {
    static let offsetBasis: UInt64 = 0xCBF2_9CE4_8422_2325
    static let prime: UInt64 = 0x0000_0100_0000_01B3
    static let versionTag = "dims1"

    /// The fingerprint of a track whose album is `albumID` and whose album artists and track
    /// artists are `artistIDs` (any order, repeats allowed).
    public static func of<S: Sequence>(albumID: String, artistIDs: S) -> UInt64 where S.Element == String {
        var artists = Array(artistIDs)
        return artists.withUnsafeMutableBufferPointer { of(albumID: albumID, sortingInPlace: $0) }
    }

    /// As `of(albumID:artistIDs:)`, sorting `artists` in place (insertion sort: a track has a
    /// handful of artists). For callers that gather the ids in temporary storage, so the hot
    /// path allocates nothing.
    public static func of(albumID: String, sortingInPlace artists: UnsafeMutableBufferPointer<String>) -> UInt64 {
        if artists.count > 1 {
            for i in 1..<artists.count {
                var j = i
                while j > 0, compareBytes(artists[j - 1], artists[j]) > 0 {
                    artists.swapAt(j - 1, j)
                    j -= 1
                }
            }
        }
        var h = offsetBasis
        for b in versionTag.utf8 { h = (h ^ UInt64(b)) &* prime }
        field(albumID, into: &h)
        var previous: String?
        for a in artists {
            if let p = previous, compareBytes(p, a) == 0 { continue }
            field(a, into: &h)
            previous = a
        }
        return h
    }

    /// Orders two strings by their UTF-8 bytes (not by Unicode equivalence, as `<` does):
    /// negative, zero or positive. Strings are compared in place.
    static func compareBytes(_ a: String, _ b: String) -> Int {
        let fast = a.utf8.withContiguousStorageIfAvailable { x in
            b.utf8.withContiguousStorageIfAvailable { y in compare(x, y) }
        }
        if let r = fast ?? nil { return r }
        return Array(a.utf8).withUnsafeBufferPointer { x in Array(b.utf8).withUnsafeBufferPointer { y in compare(x, y) } }
    }

    private static func compare(_ x: UnsafeBufferPointer<UInt8>, _ y: UnsafeBufferPointer<UInt8>) -> Int {
        let n = min(x.count, y.count)
        if n > 0, let p = x.baseAddress, let q = y.baseAddress {
            let c = memcmp(p, q, n)
            if c != 0 { return Int(c) }
        }
        return x.count - y.count
    }

    @inline(__always)
    private static func field(_ s: String, into h: inout UInt64) {
        var n = UInt64(s.utf8.count)
        for _ in 0..<8 {
            h = (h ^ (n & 0xFF)) &* prime
            n >>= 8
        }
        var v = h
        let done: Bool? = s.utf8.withContiguousStorageIfAvailable { bytes in
            for b in bytes { v = (v ^ UInt64(b)) &* prime }
            return true
        }
        if done == nil { for b in s.utf8 { v = (v ^ UInt64(b)) &* prime } }
        h = v
    }
}
