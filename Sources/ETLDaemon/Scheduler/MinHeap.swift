/// A binary min-heap: O(log n) push and pop, O(1) peek. The scheduler's due queue uses it so
/// that starting the next poll costs O(log n) in the number of playlists, not a scan and sort
/// of all of them (20,000 playlists × one start per finished poll made that quadratic).
struct MinHeap<Element: Comparable>: Sendable where Element: Sendable {
    private(set) var items: [Element] = []

    var count: Int { items.count }
    var isEmpty: Bool { items.isEmpty }
    var min: Element? { items.first }

    init() {}

    /// Heapifies `elements` in O(n).
    init(_ elements: [Element]) {
        items = elements
        var i = items.count / 2
        while i > 0 { i -= 1; siftDown(i) }
    }

    mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i] < items[parent] else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    @discardableResult
    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        if !items.isEmpty { siftDown(0) }
        return top
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count, items[l] < items[m] { m = l }
            if r < items.count, items[r] < items[m] { m = r }
            guard m != i else { return }
            items.swapAt(i, m)
            i = m
        }
    }
}
