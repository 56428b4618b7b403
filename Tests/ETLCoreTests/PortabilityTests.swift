@testable import ETLCore
import Foundation
import XCTest

/// The small replacements for the Foundation APIs the daemon used before it linked
/// FoundationEssentials only. Where Foundation is the reference, the test compares with it.
final class PortabilityTests: XCTestCase {
    func testTrimmingMatchesFoundation() {
        let samples = [
            "", "   ", "\t abc \t", " \n abc\r\n ", "\u{00A0}nbsp\u{00A0}", "\u{3000}ideographic\u{3000}",
            "\u{2028}line sep\u{2029}", "\u{0085}next line\u{0085}", " \u{0301}combining", "x \u{200B}",
            "\u{FEFF}bom", "日本語 ", "\u{1680}ogham\u{202F}", "mid dle", "\u{180E}mvs\u{180E}", "\u{205F}\u{2000}\u{200A}x\u{200B}",
        ]
        for s in samples {
            XCTAssertEqual(s.trimmingWhitespace(), s.trimmingCharacters(in: .whitespaces), "whitespaces: \(s.debugDescription)")
            XCTAssertEqual(s.trimmingWhitespaceAndNewlines(), s.trimmingCharacters(in: .whitespacesAndNewlines),
                           "whitespacesAndNewlines: \(s.debugDescription)")
        }
        XCTAssertEqual(Substring("  a b  ").trimmingWhitespace(), "a b")
        // Every BMP scalar, alone and around a letter: same verdict as Foundation.
        for v in UInt32(0)...0xFFFF {
            guard let u = Unicode.Scalar(v) else { continue }
            let s = String(Character(u)) + "a" + String(Character(u))
            XCTAssertEqual(s.trimmingWhitespaceAndNewlines(), s.trimmingCharacters(in: .whitespacesAndNewlines), "U+\(String(v, radix: 16))")
            XCTAssertEqual(s.trimmingWhitespace(), s.trimmingCharacters(in: .whitespaces), "U+\(String(v, radix: 16))")
        }
        XCTAssertEqual("\"etag\"".trimmingScalars { $0 == "\"" }, "etag")
    }

    func testCFormatMatchesPrintf() {
        XCTAssertEqual(cFormat("%012lld", Int64(42)), "000000000042")
        XCTAssertEqual(cFormat("%04d-%02d", 2026, 3), "2026-03")
        XCTAssertEqual(cFormat("%%%02X", UInt8(0x2f)), "%2F")
        XCTAssertEqual(cFormat("%.6f", 1.5), "1.500000")
        XCTAssertEqual(cFormat("%0300d", 7), String(repeating: "0", count: 299) + "7")
    }

    func testPaths() throws {
        XCTAssertEqual(Paths.join("/a", "b"), "/a/b")
        XCTAssertEqual(Paths.join("/a/", "b"), "/a/b")
        XCTAssertEqual(Paths.join("", "b"), "b")
        XCTAssertEqual(Paths.parent("/a/b/c"), "/a/b")
        XCTAssertEqual(Paths.parent("/a/b/"), "/a")
        XCTAssertEqual(Paths.parent("/a"), "/")
        XCTAssertEqual(Paths.parent("a"), "")
        XCTAssertEqual(Paths.parent("a/b"), "a")
    }

    func testLockAndCondition() {
        let lock = Lock()
        // Unchecked on purpose: the synchronisation under test is `lock`, not the compiler's.
        nonisolated(unsafe) var counter = 0
        DispatchQueue.concurrentPerform(iterations: 1000) { _ in lock.withLock { counter += 1 } }
        XCTAssertEqual(counter, 1000)

        let cond = Condition()
        cond.lock()
        let started = DispatchTime.now()
        XCTAssertFalse(cond.wait(seconds: 0.05), "nobody signals: the wait must time out")
        let waited = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        XCTAssertGreaterThanOrEqual(waited, 0.04)
        cond.unlock()

        // Guarded by `cond`, the primitive under test.
        nonisolated(unsafe) var ready = false
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.02) {
            cond.lock(); ready = true; cond.signal(); cond.unlock()
        }
        cond.lock()
        while !ready { XCTAssertTrue(cond.wait(until: Date().addingTimeInterval(5))) }
        cond.unlock()
        XCTAssertTrue(ready)
    }

    func testSleepSecondsSleeps() {
        let t0 = DispatchTime.now()
        sleepSeconds(0.02)
        XCTAssertGreaterThanOrEqual(DispatchTime.now().uptimeNanoseconds - t0.uptimeNanoseconds, 19_000_000)
        sleepSeconds(-1)  // no-op, must not trap
    }

    /// The daemon must not link Foundation (ICU data, CoreFoundation, libxml2): product
    /// modules import FoundationEssentials at most, and MemberImportVisibility (Package.swift)
    /// stops Foundation's String extensions from leaking in through TOMLKit.
    func testProductModulesDoNotImportFoundation() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources")
        let forbidden = ["import Foundation\n", "import FoundationXML", "import FoundationNetworking",
                         "import FoundationInternationalization", "import struct Foundation."]
        var offenders: [String] = []
        var checked = 0
        let walker = FileManager.default.enumerator(atPath: sources.path)!
        while let rel = walker.nextObject() as? String {
            guard rel.hasSuffix(".swift"), !rel.hasPrefix("ETLTestSupport/") else { continue }
            let text = try String(contentsOfFile: sources.path + "/" + rel, encoding: .utf8)
            checked += 1
            for f in forbidden where text.contains(f) { offenders.append("\(rel): \(f.trimmingCharacters(in: .newlines))") }
        }
        XCTAssertGreaterThan(checked, 50)
        XCTAssertEqual(offenders, [])
        let manifest = try String(contentsOfFile: sources.deletingLastPathComponent().path + "/Package.swift", encoding: .utf8)
        XCTAssertTrue(manifest.contains("enableUpcomingFeature(\"MemberImportVisibility\")"))
    }
}
