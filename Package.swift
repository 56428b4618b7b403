// swift-tools-version:6.0
import PackageDescription

// The folder tree follows the pipeline: extraction → state → transform → sink, with the
// scheduler and daemon wiring in ETLDaemon, health (systemd, journald, EMF) in ETLHealth,
// and the C libraries behind thin system-library modules.
/// Every module imports what it uses: members of modules that are only imported transitively
/// are not visible. This keeps Foundation (and with it ICU and CoreFoundation) out of the
/// daemon: TOMLKit imports Foundation, and without this its String extensions would silently
/// win overload resolution in any module that imports ETLConfig.
let strictImports: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

/// The daemon (and the benchmark that stands for it) is linked statically against the Swift
/// runtime; exporting all of its symbols (the driver's default) only makes every shared
/// library's symbol lookups walk a large table at start-up and keeps ~0.8 MB of it resident.
let daemonLinkerSettings: [LinkerSetting] = [.unsafeFlags(["-Xlinker", "--no-export-dynamic"], .when(configuration: .release))]

let package = Package(
    name: "spotifyd-etl",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "spotifyd-etl", targets: ["spotifyd-etl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // C libraries, thin.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),

        // Pure shared vocabulary: tables, rows, values, durations, timestamps.
        .target(name: "ETLCore", swiftSettings: strictImports),
        .target(name: "ETLConfig", dependencies: ["ETLCore", .product(name: "TOMLKit", package: "TOMLKit")], swiftSettings: strictImports),
        .target(name: "ETLHTTP", dependencies: ["CCurl", "ETLCore"], swiftSettings: strictImports),
        .target(name: "ETLState", dependencies: ["CSQLite", "ETLCore", "ETLTransform"], swiftSettings: strictImports),
        .target(name: "ETLTransform", dependencies: ["ETLCore"], swiftSettings: strictImports),
        .target(name: "ETLExtraction", dependencies: [
            "ETLCore", "ETLHTTP", "ETLTransform", .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], swiftSettings: strictImports),
        .target(name: "ETLSink", dependencies: [
            "ETLCore", "ETLHTTP", "CZlib", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strictImports),
        .target(name: "ETLHealth", dependencies: [
            "ETLCore", "CSystemd", .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: strictImports),
        .target(name: "ETLDaemon", dependencies: [
            "ETLCore", "ETLConfig", "ETLHTTP", "ETLState", "ETLTransform", "ETLExtraction", "ETLSink", "ETLHealth",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ], swiftSettings: strictImports),
        .executableTarget(name: "spotifyd-etl", dependencies: [
            "ETLDaemon", "ETLConfig", "ETLCore", "ETLHealth", "ETLSink", "ETLState",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strictImports,
            linkerSettings: daemonLinkerSettings),

        // Benchmark of the S3 loader (bench/s3/run.sh); not shipped.
        .executableTarget(name: "s3-bench", dependencies: [
            "ETLSink", "ETLHTTP", "ETLTestSupport", "CZlib", .product(name: "Crypto", package: "swift-crypto"),
        ], path: "bench/s3", exclude: ["run.sh"]),
        // Pipeline benchmark (replayed pages, no network); kept out of the daemon binary.
        .executableTarget(name: "spotifyd-etl-bench", dependencies: [
            "ETLDaemon", "ETLExtraction", "ETLState", "ETLSink", "ETLCore", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strictImports, linkerSettings: daemonLinkerSettings),

        // Launchers for the real peers tests talk to. Test-only.
        .target(name: "ETLTestSupport", dependencies: ["ETLCore", "ETLHTTP"]),

        .testTarget(name: "ETLCoreTests", dependencies: ["ETLTestSupport", "ETLCore", "ETLHTTP"]),
        .testTarget(name: "ETLConfigTests", dependencies: ["ETLTestSupport", "ETLConfig"]),
        .testTarget(name: "ETLStateTests", dependencies: ["ETLTestSupport", "ETLState"]),
        .testTarget(name: "ETLTransformTests", dependencies: ["ETLTestSupport", "ETLTransform"]),
        .testTarget(name: "ETLExtractionTests", dependencies: [
            "ETLTestSupport", "ETLExtraction", "ETLHTTP", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "ETLSinkTests", dependencies: ["ETLTestSupport", "ETLSink", "ETLHTTP"]),
        .testTarget(name: "ETLHealthTests", dependencies: ["ETLTestSupport", "ETLHealth"]),
        .testTarget(name: "ETLDaemonTests", dependencies: [
            "ETLTestSupport", "ETLDaemon", "ETLState", "ETLConfig", "ETLSink", "ETLCore", "ETLExtraction", "ETLHTTP",
            "ETLHealth",
        ]),
    ],
    // Swift 6 language mode for every target: complete concurrency checking by the compiler.
    swiftLanguageModes: [.v6]
)
