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
    let (oldFirst, oldNext) = occurrenceChains(previous)
    let (newFirst, newNext) = occurrenceChains(current)
    func members(_ list: [Member], from first: Int, _ next: [Int]) -> [Member] {
        var out: [Member] = []
        var i = first
        while i >= 0 { out.append(list[i]); i = next[i] }
        return out
    }

    var added: [Member] = []
    var removed: [Member] = []
    var oldMatchedKey = [Bool](repeating: false, count: previous.count)
    for (key, nf) in newFirst {
        guard let of = oldFirst[key] else {
            var i = nf
            while i >= 0 { added.append(current[i]); i = newNext[i] }
            continue
        }
        var i = of
        while i >= 0 { oldMatchedKey[i] = true; i = oldNext[i] }
        // One occurrence on each side (the common case) is the same member: nothing to do.
        if oldNext[of] < 0 && newNext[nf] < 0 { continue }
        let (a, r) = matchOccurrences(old: members(previous, from: of, oldNext), new: members(current, from: nf, newNext))
        added.append(contentsOf: a)
        removed.append(contentsOf: r)
    }
    for (i, m) in previous.enumerated() where !oldMatchedKey[i] { removed.append(m) }

    func order(_ l: Member, _ r: Member) -> Bool {
        l.position != r.position ? l.position < r.position : l.itemKey < r.itemKey
    }
    return (added.sorted(by: order), removed.sorted(by: order))
}

/// The occurrences of each item key in `list` as a chain of indices: `first[key]` is one, and
/// `next[i]` the one after `i` (-1 at the end). One hash per member and no array per key;
/// the chain order does not matter (`matchOccurrences` orders by position).
private func occurrenceChains(_ list: [Member]) -> (first: [String: Int], next: [Int]) {
    var first: [String: Int] = [:]
    first.reserveCapacity(list.count)
    var next = [Int](repeating: -1, count: list.count)
    for (i, m) in list.enumerated() {
        if let previous = first.updateValue(i, forKey: m.itemKey) { next[i] = previous }
    }
    return (first, next)
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
