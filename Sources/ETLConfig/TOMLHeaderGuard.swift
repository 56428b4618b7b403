/// toml++ (inside TOMLKit 0.6.0) asserts — and in optimised builds *assumes* — that a table
/// header's key starts with a key character. Headers like `[[[`, `[[ [a]]` or `[.a]` break that
/// and abort the process (or are undefined behaviour) instead of producing a parse error.
/// Bad config must never crash the daemon, so such lines are reported here, before TOMLKit
/// sees the text.
enum TOMLHeaderGuard {
    /// The 1-based (line, column) of the first malformed table header, if any.
    static func firstBadHeader(in text: String) -> (line: Int, column: Int)? {
        var inMultilineString: String? = nil
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.utf8
            if let delimiter = inMultilineString {
                if occurrences(of: delimiter, in: rawLine) % 2 == 1 { inMultilineString = nil }
                continue
            }
            for delimiter in ["\"\"\"", "'''"] where occurrences(of: delimiter, in: rawLine) % 2 == 1 {
                inMultilineString = delimiter
            }
            guard inMultilineString == nil else { continue }
            var i = line.startIndex
            if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { i = line.index(i, offsetBy: 3) } // BOM
            func skipBlanks() { while i < line.endIndex, line[i] == 0x20 || line[i] == 0x09 { i = line.index(after: i) } }
            skipBlanks()
            guard i < line.endIndex, line[i] == UInt8(ascii: "[") else { continue }
            i = line.index(after: i)
            var doubleBracket = false
            if i < line.endIndex, line[i] == UInt8(ascii: "[") { doubleBracket = true; i = line.index(after: i) }
            skipBlanks()
            guard i < line.endIndex else { continue } // end of line: toml++ reports it
            let c = line[i]
            if !doubleBracket, c == UInt8(ascii: "[") { continue } // "[ [": toml++ reports it
            let isKeyStart = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
                || c == UInt8(ascii: "_") || c == UInt8(ascii: "-") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "'")
                || c == UInt8(ascii: "]") // blank key: toml++ reports it
            if !isKeyStart {
                return (lineNumber, line.distance(from: line.startIndex, to: i) + 1)
            }
        }
        return nil
    }

    private static func occurrences(of needle: String, in line: Substring) -> Int {
        var count = 0
        var rest = line[...]
        while let r = rest.firstRange(of: needle) { count += 1; rest = rest[r.upperBound...] }
        return count
    }
}
