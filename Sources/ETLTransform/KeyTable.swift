/// The direct decoder's lookup from a key's bytes to its case in an `ItemsPageKeys` object,
/// built once from the declaration. `bit` is the case's own bit, for "first occurrence wins".
struct KeyTable<K: CaseIterable & RawRepresentable & Sendable>: Sendable where K.RawValue == String {
    struct Match: Sendable {
        let key: K
        let bit: UInt32
    }
    private struct Entry: Sendable {
        let match: Match
        let first: UInt8
        let bytes: [UInt8]
    }
    /// Candidates by key length.
    private let byLength: [[Entry]]

    init() {
        let all = Array(K.allCases)
        precondition(all.count <= 32, "a key table holds at most 32 keys")
        let longest = all.map { $0.rawValue.utf8.count }.max() ?? 0
        var t = [[Entry]](repeating: [], count: longest + 1)
        for (i, k) in all.enumerated() {
            let b = Array(k.rawValue.utf8)
            precondition(!b.isEmpty, "a key has a name")
            t[b.count].append(Entry(match: Match(key: k, bit: 1 << UInt32(i)), first: b[0], bytes: b))
        }
        byLength = t
    }

    /// The case whose name is the `n` bytes at `p` exactly (an escaped key never matches).
    @inline(__always)
    func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Match? {
        guard n > 0, n < byLength.count else { return nil }
        let first = p[0]
        for e in byLength[n] where e.first == first {
            // Keys are short (at most 22 bytes): a byte loop beats a call to memcmp.
            let same = e.bytes.withUnsafeBufferPointer { k -> Bool in
                var j = 1
                while j < n, k[j] == p[j] { j += 1 }
                return j == n
            }
            if same { return e.match }
        }
        return nil
    }
}

/// One table per object of `ItemsPageKeys`.
enum KeyTables {
    static let page = KeyTable<ItemsPageKeys.Page>()
    static let entry = KeyTable<ItemsPageKeys.Entry>()
    static let addedBy = KeyTable<ItemsPageKeys.AddedBy>()
    static let item = KeyTable<ItemsPageKeys.Item>()
    static let album = KeyTable<ItemsPageKeys.Album>()
    static let artist = KeyTable<ItemsPageKeys.Artist>()
    static let externalIDs = KeyTable<ItemsPageKeys.ExternalIDs>()
    static let show = KeyTable<ItemsPageKeys.Show>()
}
