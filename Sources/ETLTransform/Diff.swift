import ETLCore

/// Membership diff between two snapshots of one playlist.
///
/// Why by key with multiplicity, not by position: Spotify reorders never change membership,
/// and one track may appear several times; a positional diff would turn a single insert at
/// the top into N remove/add pairs. Within one key, occurrences are matched first by equal
/// (addedAt, addedBy), which identifies *which* duplicate was removed (they usually differ in
/// when/who added them), then the rest pairwise in position order. Unmatched new occurrences
/// are `added` (new position), unmatched old ones are `removed` (old position).
///
/// Output is deterministic: added sorted by new position, removed by old position (ties by
/// item key).
public func diff(previous: [Member], current: [Member]) -> (added: [Member], removed: [Member]) {
    var oldByKey: [String: [Member]] = [:]
    for m in previous { oldByKey[m.itemKey, default: []].append(m) }
    var newByKey: [String: [Member]] = [:]
    for m in current { newByKey[m.itemKey, default: []].append(m) }

    var added: [Member] = []
    var removed: [Member] = []
    for (key, news) in newByKey {
        guard let olds = oldByKey.removeValue(forKey: key) else { added.append(contentsOf: news); continue }
        let (a, r) = matchOccurrences(old: olds, new: news)
        added.append(contentsOf: a)
        removed.append(contentsOf: r)
    }
    for olds in oldByKey.values { removed.append(contentsOf: olds) }

    func order(_ l: Member, _ r: Member) -> Bool {
        l.position != r.position ? l.position < r.position : l.itemKey < r.itemKey
    }
    return (added.sorted(by: order), removed.sorted(by: order))
}

private struct Provenance: Hashable {
    let addedAt: String?
    let addedBy: String?
}

private func matchOccurrences(old: [Member], new: [Member]) -> (added: [Member], removed: [Member]) {
    let olds = old.sorted { $0.position < $1.position }
    let news = new.sorted { $0.position < $1.position }
    if olds.count == 1 && news.count == 1 { return ([], []) }

    // Pass 1: equal provenance, earliest old occurrence first.
    var queues: [Provenance: [Int]] = [:]
    for (i, m) in olds.enumerated() { queues[Provenance(addedAt: m.addedAt, addedBy: m.addedBy), default: []].append(i) }
    var heads: [Provenance: Int] = [:]
    var oldMatched = [Bool](repeating: false, count: olds.count)
    var unmatchedNew: [Member] = []
    for m in news {
        let p = Provenance(addedAt: m.addedAt, addedBy: m.addedBy)
        if let q = queues[p] {
            let h = heads[p] ?? 0
            if h < q.count {
                oldMatched[q[h]] = true
                heads[p] = h + 1
                continue
            }
        }
        unmatchedNew.append(m)
    }
    // Pass 2: the rest pairwise in position order.
    let unmatchedOld = olds.enumerated().filter { !oldMatched[$0.offset] }.map(\.element)
    let pairs = min(unmatchedOld.count, unmatchedNew.count)
    return (Array(unmatchedNew.dropFirst(pairs)), Array(unmatchedOld.dropFirst(pairs)))
}
