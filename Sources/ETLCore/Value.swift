/// One cell of a row. Deliberately tiny: the contract needs only these shapes, and a closed
/// enum keeps every encoder (NDJSON, CSV, outbox storage) exhaustive.
public enum Value: Sendable, Equatable, Hashable {
    case null
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// Arrays of ids or genres. Written as a JSON array in NDJSON and as JSON text in CSV.
    case strings([String])

    public static func optional(_ s: String?) -> Value { s.map { .string($0) } ?? .null }
    public static func optional(_ i: Int?) -> Value { i.map { .int(Int64($0)) } ?? .null }
    public static func optional(_ b: Bool?) -> Value { b.map { .bool($0) } ?? .null }
    public static func optional(_ a: [String]?) -> Value { a.map { .strings($0) } ?? .null }
}

/// A row of one contract table, values in `table.columns` order (no `batch_id`).
public struct Row: Sendable, Equatable, Hashable {
    public let table: Table
    public var values: [Value]

    public init(table: Table, values: [Value]) {
        precondition(values.count == table.columns.count, "row for \(table.rawValue) has \(values.count) values")
        self.table = table
        self.values = values
    }

    public subscript(column: String) -> Value? {
        guard let i = table.columns.firstIndex(of: column) else { return nil }
        return values[i]
    }
}
