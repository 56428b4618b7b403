@testable import ETLTransform

/// The two decodings of an items page the transform tests compare.
enum PageDecodings {
    /// The reference: the full parse (`decodeItemsPage`), then `parseEntry` for every entry.
    static func reference(_ body: [UInt8]) -> Result<ParsedItemsPage, TransformError> {
        do {
            let page = try decodeItemsPage(body)
            return .success(ParsedItemsPage(
                entries: page.entries.enumerated().map { parseEntry($0.element, position: page.offset + $0.offset) },
                total: page.total, next: page.next, offset: page.offset, limit: page.limit))
        } catch {
            return .failure(error)
        }
    }

    /// What the daemon uses: `decodeParsedItemsPage` (the direct decoder first).
    static func decoded(_ body: [UInt8]) -> Result<ParsedItemsPage, TransformError> {
        do { return .success(try decodeParsedItemsPage(body)) } catch { return .failure(error) }
    }
}
