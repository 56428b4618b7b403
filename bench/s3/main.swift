// s3-bench: upload throughput to moto on loopback, CPU cost of signing+hashing and gzip,
// compared with `openssl dgst` over the same bytes, and peak RSS of a 64 MiB multipart
// upload. Not a test; run via bench/s3/run.sh (release build).
import CZlib
import Crypto
import ETLHTTP
import ETLSink
import ETLTestSupport
import Foundation

func cpuSeconds(_ who: Int32 = RUSAGE_SELF.rawValue) -> Double {
    var ru = rusage()
    getrusage(who, &ru)
    return Double(ru.ru_utime.tv_sec) + Double(ru.ru_utime.tv_usec) / 1e6 + Double(ru.ru_stime.tv_sec) + Double(ru.ru_stime.tv_usec) / 1e6
}

func maxRSSMB() -> Double {
    var ru = rusage()
    getrusage(RUSAGE_SELF.rawValue, &ru)
    return Double(ru.ru_maxrss) / 1024
}

/// NDJSON-like rows, so gzip sees realistic text. Written in 1 MiB chunks (never whole).
func makeFile(bytes: Int, seed: UInt64) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("s3bench-\(bytes)-\(seed).ndjson")
    _ = FileManager.default.createFile(atPath: url.path, contents: nil)
    let fh = try FileHandle(forWritingTo: url)
    var x = seed
    var written = 0
    while written < bytes {
        var chunk = ""
        while chunk.utf8.count < 1 << 20 {
            x = x &* 6364136223846793005 &+ 1442695040888963407
            chunk += "{\"playlist_id\":\"37i9dQZF1DX\(x >> 40)\",\"track_id\":\"\(String(x, radix: 36))\",\"added_at\":\"2026-11-25T10:\(x % 60):00Z\",\"position\":\(x % 500),\"popularity\":\(x % 100)}\n"
        }
        var d = Data(chunk.utf8)
        if written + d.count > bytes { d = d.prefix(bytes - written) }
        fh.write(d)
        written += d.count
    }
    try fh.close()
    return url
}

func runOpenSSL(_ args: [String]) throws -> Double {
    let before = cpuSeconds(RUSAGE_CHILDREN.rawValue)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["openssl"] + args
    p.standardOutput = FileHandle.nullDevice
    try p.run(); p.waitUntilExit()
    return cpuSeconds(RUSAGE_CHILDREN.rawValue) - before
}

let mode = CommandLine.arguments.dropFirst().first ?? "all"
let MiB = 1 << 20

func startMoto() throws -> (MotoServer, StaticCredentialsProvider) {
    let moto = try MotoServer(buckets: ["bench-bucket"])
    return (moto, StaticCredentialsProvider(AWSCredentials(accessKeyID: moto.accessKey, secretAccessKey: moto.secretKey)))
}

if mode == "mkfile" {
    let made = try makeFile(bytes: 64 * MiB, seed: 64)
    try? FileManager.default.removeItem(atPath: CommandLine.arguments[2])
    try FileManager.default.moveItem(atPath: made.path, toPath: CommandLine.arguments[2])
    exit(0)
}

if mode == "rss" {
    // Only the 64 MiB multipart upload, so ru_maxrss is its peak.
    // The 64 MiB file is made by a child process (`s3-bench mkfile PATH`), so building it
    // does not count towards this process's peak.
    // run.sh also starts moto outside this process (S3_BENCH_ENDPOINT/_ACCESS_KEY/_SECRET_KEY),
    // so the figure is the uploader's own footprint, as in the daemon.
    let file = URL(fileURLWithPath: CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "/tmp/s3bench-rss.ndjson")
    if !FileManager.default.fileExists(atPath: file.path) {
        let mk = Process()
        mk.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        mk.arguments = ["mkfile", file.path]
        try mk.run(); mk.waitUntilExit()
    }
    let env = ProcessInfo.processInfo.environment
    var motoHandle: MotoServer?
    let endpoint: String, creds: StaticCredentialsProvider
    if let ep = env["S3_BENCH_ENDPOINT"], let ak = env["S3_BENCH_ACCESS_KEY"], let sk = env["S3_BENCH_SECRET_KEY"] {
        endpoint = ep
        creds = StaticCredentialsProvider(AWSCredentials(accessKeyID: ak, secretAccessKey: sk))
    } else {
        let (m, c) = try startMoto()
        motoHandle = m; endpoint = m.endpoint; creds = c
    }
    defer { motoHandle?.stop() }
    let baseline = maxRSSMB()
    let sink = try S3Sink(settings: S3Settings(bucket: "bench-bucket", endpoint: endpoint, pathStyle: true, multipartThreshold: 16 * MiB),
                          credentials: creds)
    let r = try sink.put(SealedObject(key: "rss/64mib.ndjson", fileURL: file, byteCount: 64 * MiB, contentType: "application/x-ndjson", contentEncoding: nil))
    print(String(format: "rss: 64 MiB multipart upload etag=%@ peak RSS (ru_maxrss, whole process) = %.1f MB (before upload %.1f MB)",
                 r.etag ?? "-", maxRSSMB(), baseline))
    exit(0)
}

if mode == "all" || mode == "throughput" {
    let (moto, creds) = try startMoto()
    defer { moto.stop() }
    let sink = try S3Sink(settings: S3Settings(bucket: "bench-bucket", endpoint: moto.endpoint, pathStyle: true, multipartThreshold: 16 * MiB),
                          credentials: creds)
    for (size, reps) in [(1 * MiB, 20), (16 * MiB, 4), (64 * MiB, 2)] {
        let file = try makeFile(bytes: size, seed: UInt64(size))
        defer { try? FileManager.default.removeItem(at: file) }
        let obj = SealedObject(key: "tp/\(size)", fileURL: file, byteCount: size, contentType: "application/x-ndjson", contentEncoding: nil)
        _ = try sink.put(obj)  // warm-up
        let t0 = Date(), c0 = cpuSeconds()
        for i in 0..<reps {
            var o = obj; o.key = "tp/\(size)-\(i)"
            _ = try sink.put(o)
        }
        let dt = Date().timeIntervalSince(t0), dc = cpuSeconds() - c0
        let mb = Double(size * reps) / 1e6
        print(String(format: "throughput: %3d MiB objects x%-2d  %7.1f MB/s  (client CPU %.2f s)", size / MiB, reps, mb / dt, dc) + (size >= 16 * MiB ? " multipart, 8 MiB parts" : " single PUT"))
    }
}

if mode == "all" || mode == "cpu" {
    let total = 256 * MiB
    let file = try makeFile(bytes: total, seed: 7)
    defer { try? FileManager.default.removeItem(at: file) }
    let gb = Double(total) / 1e9
    // Signing + hashing exactly as a multipart upload does it: per 8 MiB part a streaming
    // pass over the file range (pread, 64 KiB buffer) computing SHA-256 (hex + base64) and
    // MD5 (hex + base64), then a SigV4 signature over the request with the file body.
    let builder = S3RequestBuilder(endpoint: try S3Endpoint(settings: S3Settings(bucket: "bench-bucket", endpoint: "http://127.0.0.1:9", pathStyle: true)), region: "us-east-1")
    let creds = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret")
    var best = Double.infinity
    for _ in 0..<3 {
        let c0 = cpuSeconds()
        for i in 0..<(total / (8 * MiB)) {
            let range = FileBody(path: file.path, offset: i * 8 * MiB, length: 8 * MiB)
            let d = try BodyDigests(file: range)
            let req = builder.build(method: "PUT", key: "k", query: [("partNumber", "\(i + 1)"), ("uploadId", "u")], file: range,
                                    digests: d, objectChecksum: true, credentials: creds, date: Date())
            precondition(req.headers.count > 3)
        }
        best = min(best, cpuSeconds() - c0)
    }
    // The gzip figure below works on parts in memory (as the encoder's deflate would).
    let fh = try FileHandle(forReadingFrom: file)
    var parts: [Data] = []
    while let d = try fh.read(upToCount: 8 * MiB), !d.isEmpty { parts.append(d) }
    try fh.close()
    var sslBest = Double.infinity
    for _ in 0..<3 {
        sslBest = min(sslBest, try runOpenSSL(["dgst", "-md5", file.path]) + runOpenSSL(["dgst", "-sha256", file.path]))
    }
    print(String(format: "cpu: sign+hash (streamed file pass: SHA-256 + MD5 + SigV4) %.3f CPU-s/GB;  openssl dgst -md5 + -sha256 %.3f CPU-s/GB;  ratio %.2fx (target <= 1.3x)",
                 best / gb, sslBest / gb, best / sslBest))
    // gzip at the level the encoder uses (GzipWriter.defaultLevel) over the same bytes.
    var gzBest = Double.infinity
    var outBytes = 0
    for _ in 0..<2 {
        let c0 = cpuSeconds()
        outBytes = 0
        for p in parts {
            var s = z_stream()
            deflateInit2_(&s, GzipWriter.defaultLevel, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            var out = [UInt8](repeating: 0, count: Int(deflateBound(&s, UInt(p.count))))
            p.withUnsafeBytes { raw in
                s.next_in = UnsafeMutablePointer(mutating: raw.bindMemory(to: UInt8.self).baseAddress!)
                s.avail_in = UInt32(p.count)
                out.withUnsafeMutableBufferPointer { o in
                    s.next_out = o.baseAddress; s.avail_out = UInt32(o.count)
                    deflate(&s, Z_FINISH)
                }
            }
            outBytes += Int(s.total_out)
            deflateEnd(&s)
        }
        gzBest = min(gzBest, cpuSeconds() - c0)
    }
    print(String(format: "cpu: gzip level %d %.3f CPU-s/GB (ratio %.1f:1)", GzipWriter.defaultLevel, gzBest / gb, Double(total) / Double(outBytes)))
}

if mode == "rssparts" {
    // Diagnostic: ru_maxrss after each step of a manual multipart upload.
    let env = ProcessInfo.processInfo.environment
    let creds = StaticCredentialsProvider(AWSCredentials(accessKeyID: env["S3_BENCH_ACCESS_KEY"]!, secretAccessKey: env["S3_BENCH_SECRET_KEY"]!))
    let client = try S3Client(settings: S3Settings(bucket: "bench-bucket", endpoint: env["S3_BENCH_ENDPOINT"]!, pathStyle: true), credentials: creds)
    let path = CommandLine.arguments[2]
    print(String(format: "start %.1f", maxRSSMB()))
    let id = try client.createMultipartUpload(key: "diag")
    print(String(format: "created %.1f", maxRSSMB()))
    var parts: [S3CompletedPart] = []
    for n in 1...8 {
        let range = FileBody(path: path, offset: (n - 1) * 8 * MiB, length: 8 * MiB)
        _ = try BodyDigests(file: range)
        print(String(format: "digest %d %.1f", n, maxRSSMB()))
        parts.append(try client.uploadPart(key: "diag", uploadID: id, partNumber: n, file: range))
        print(String(format: "uploaded %d %.1f", n, maxRSSMB()))
    }
    try client.completeMultipartUpload(key: "diag", uploadID: id, parts: parts)
}
