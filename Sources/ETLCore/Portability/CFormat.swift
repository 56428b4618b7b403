import Glibc

/// printf-style formatting through `vsnprintf`, replacing Foundation's `String(format:)`.
/// The process never calls `setlocale`, so this is the C locale: `.` decimal point, no grouping.
public func cFormat(_ format: String, _ args: CVarArg...) -> String {
    withVaList(args) { va -> String in
        var buffer = [CChar](repeating: 0, count: 128)
        let n = Int(vsnprintf(&buffer, buffer.count, format, va))
        if n < buffer.count { return decodeCString(buffer) }
        return withVaList(args) { va2 in
            buffer = [CChar](repeating: 0, count: n + 1)
            _ = vsnprintf(&buffer, buffer.count, format, va2)
            return decodeCString(buffer)
        }
    }
}

/// The text of a NUL-terminated buffer (UTF-8; invalid bytes become U+FFFD).
private func decodeCString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
