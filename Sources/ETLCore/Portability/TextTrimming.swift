/// Whitespace trimming by Unicode scalar, as Foundation's `trimmingCharacters(in:)` did:
/// `.whitespaces` is Unicode White_Space minus the line breaks, `.whitespacesAndNewlines` is
/// all of White_Space (the same scalar set as Foundation's general-category Z + controls).
/// Scalars, not Characters, so a space followed by a combining mark is still trimmed.
extension StringProtocol {
    /// Trims spaces and tabs (not line breaks) from both ends.
    public func trimmingWhitespace() -> String { trimmingScalars { $0.properties.isWhitespace && !isLineBreak($0) } }

    /// Trims every Unicode White_Space scalar, line breaks included, from both ends.
    public func trimmingWhitespaceAndNewlines() -> String { trimmingScalars { $0.properties.isWhitespace } }

    /// Trims the scalars for which `drop` is true from both ends.
    public func trimmingScalars(where drop: (Unicode.Scalar) -> Bool) -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, drop(scalars[start]) { start = scalars.index(after: start) }
        while end > start {
            let before = scalars.index(before: end)
            guard drop(scalars[before]) else { break }
            end = before
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars[start..<end])
        return String(view)
    }
}

@inline(__always)
private func isLineBreak(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return true
    default: return false
    }
}
