/// A dictionary that keeps at most `capacity` entries, forgetting the oldest insertions first.
///
/// Why bounded: the artist cache lives as long as the daemon, and every artist body it holds is
/// ~1–2 KB. The cache only has to stop the same artist being fetched twice in one burst (two
/// workers, or a poll retried after a failed commit): once a poll commits, the state DB marks
/// the artist complete and it is never asked for again. An unbounded cache would grow with
/// every new artist for weeks; this one is capped at a few MB.
struct BoundedCache<Key: Hashable, Value> {
    let capacity: Int
    private var values: [Key: Value] = [:]
    /// Insertion order, oldest at `head`; a ring so eviction is O(1).
    private var order: [Key] = []
    private var head = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    var count: Int { values.count }

    subscript(key: Key) -> Value? { values[key] }

    mutating func insert(_ value: Value, for key: Key) {
        if values.updateValue(value, forKey: key) != nil { return }  // refreshed in place
        if order.count < capacity {
            order.append(key)
            return
        }
        values.removeValue(forKey: order[head])
        order[head] = key
        head = (head + 1) % capacity
    }
}
