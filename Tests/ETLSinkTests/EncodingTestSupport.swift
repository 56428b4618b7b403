import ETLCore
import ETLSink
import Foundation
import XCTest

/// Helpers for the encoding, gzip and local-sink tests: temp directories and subprocesses
/// (python3, gzip, sha256sum, mount) as independent, real readers of what we write.
enum EncodingTestKit {
    struct ProcessResult {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// A fresh directory under the system temp dir; removed by the caller's tearDown.
    static func makeTempDirectory(_ label: String = "sink") throws -> URL {
        let url = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("etl-\(label)-\(getpid())-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs `arguments[0]` (looked up on PATH) and collects its output. stdout and stderr go to
    /// temp files, so a chatty child can never deadlock on a full pipe.
    @discardableResult
    static func run(_ arguments: [String]) throws -> ProcessResult {
        let dir = try makeTempDirectory("proc")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outURL = dir.appendingPathComponent("out"), errURL = dir.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close(); try err.close()
        return ProcessResult(status: process.terminationStatus, stdout: try Data(contentsOf: outURL),
                             stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// Runs a Python snippet with extra argv; fails the test on a non-zero exit.
    static func python(_ script: String, _ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> Data {
        let r = try run(["python3", "-c", script] + args)
        XCTAssertEqual(r.status, 0, "python3 failed: \(r.stderr)", file: file, line: line)
        return r.stdout
    }

    /// SHA-256 of a file as computed by coreutils, an implementation independent of ours.
    static func sha256(_ url: URL, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let r = try run(["sha256sum", url.path])
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return String(String(decoding: r.stdout, as: UTF8.self).prefix(64))
    }

    /// Strings that break naive encoders.
    static let trickyStrings: [String] = [
        "plain",
        "",
        " leading and trailing ",
        "say \"hi\"",
        "\"",
        "\"\"",
        "back\\slash \\\" \\n",
        "comma, separated",
        "line\nbreak",
        "carriage\rreturn",
        "crlf\r\ninside",
        "\n",
        "tab\there",
        "nul\u{0}byte and \u{1} \u{1F} \u{7F}",
        "emoji 🎧👩‍👩‍👧‍👦🏳️‍🌈",
        "CJK 東京事変 가나다",
        "RTL \u{200F}שלום עולם مرحبا",
        "combining e\u{0301} vs \u{00E9}, a\u{0308}\u{0304}",
        "separators \u{2028}\u{2029} bom \u{FEFF}",
        "slash / and </script>",
        "=SUM(A1:A2)",
        "null",
    ]

    /// Rows of `artists` (artist_id, name, genres, followers, popularity, observed_at) covering
    /// every Value shape, including every tricky string in both a string and an array cell.
    static func trickyArtistRows() -> [[Value]] {
        var rows: [[Value]] = []
        for (i, s) in trickyStrings.enumerated() {
            rows.append([.string("artist\(i)"), .string(s), .strings([s, "x"]), .int(Int64(i) * 1000),
                         i % 2 == 0 ? .null : .int(Int64(i)), .string("2026-11-25T10:00:00Z")])
        }
        rows.append([.string("empty-array"), .null, .strings([]), .null, .null, .null])
        rows.append([.string("extremes"), .string("x"), .strings([""]), .int(Int64.min), .int(Int64.max),
                     .string("2026-11-25T10:00:00Z")])
        return rows
    }

    static func rowSource(_ rows: [[Value]]) -> RowSource {
        return { emit in for r in rows { try emit(r) } }
    }
}
