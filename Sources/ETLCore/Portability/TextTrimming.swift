/// Whitespace trimming by Unicode scalar, exactly as Foundation's `trimmingCharacters(in:)` did
/// (the data contract's text cleaning must not change): `.whitespaces` is tab, space, U+00A0,
/// U+1680, U+2000–U+200B (zero width space included, as CoreFoundation has it), U+202F,
/// U+205F and U+3000; `.whitespacesAndNewlines` adds U+000A–U+000D, U+0085, U+2028 and U+2029.
/// A fixed list rather than a Unicode property, so it cannot move with the Unicode version.
/// Scalars, not Characters, so a space followed by a combining mark is still trimmed.
extension StringProtocol {
    /// Trims spaces and tabs (not line breaks) from both ends.
    public func trimmingWhitespace() -> String { trimmingScalars(where: isHorizontalSpace) }

    /// Trims every Unicode White_Space scalar, line breaks included, from both ends.
    public func trimmingWhitespaceAndNewlines() -> String { trimmingScalars { isHorizontalSpace($0) || isLineBreak($0) } }

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
private func isHorizontalSpace(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x09, 0x20, 0xA0, 0x1680, 0x2000...0x200B, 0x202F, 0x205F, 0x3000: return true
    default: return false
    }
}

@inline(__always)
private func isLineBreak(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x0A...0x0D, 0x85, 0x2028, 0x2029: return true
    default: return false
    }
}
