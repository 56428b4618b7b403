import FoundationEssentials

extension StateStore {
    /// Sets several `kv` facts in one transaction: all or none. For facts that are only
    /// meaningful together (a refresh token and the origin of its chain), so a crash or a
    /// failed write never leaves one without the other. A nil value deletes its key.
    public func set(_ values: [(key: String, value: String?)]) throws {
        try locked {
            try db.transaction {
                for (key, value) in values {
                    if let value {
                        let s = try db.cached("INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
                        defer { s.reset() }
                        try s.bind(1, key)
                        try s.bind(2, value)
                        try s.run()
                    } else {
                        let s = try db.cached("DELETE FROM kv WHERE key = ?")
                        defer { s.reset() }
                        try s.bind(1, key)
                        try s.run()
                    }
                }
            }
        }
    }
}
