// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Stoa",
    products: [
        .library(name: "Stoa", targets: ["Stoa"]),
        .executable(name: "stoa", targets: ["stoa"]),
        // A swift-log backend that writes each log call as a record (the core library keeps no swift-log dependency).
        .library(name: "StoaLogging", targets: ["StoaLogging"]),
        // Realistic agent events, for benchmarks and tests of programs built on Stoa.
        .library(name: "StoaWorkload", targets: ["StoaWorkload"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // `swift package generate-documentation` (Tools/docs.sh); not linked into anything.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // zlib, for the warm tier's gzip members.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Linux calls Swift's Glibc module leaves out (statx, memmem), CRC32C,
        // and SHA-256 (segment digests, the chain of digests, §5): OpenSSL's
        // libcrypto, loaded when first needed (no headers needed to build).
        .target(name: "CStoaSystem"),
        // The store: records, segments, recovery, the write and read paths.
        .target(
            name: "Stoa",
            dependencies: ["CZlib", "CStoaSystem"]
        ),
        // swift-log's LogHandler over an EventLogger: one record per log call.
        .target(
            name: "StoaLogging",
            dependencies: ["Stoa", .product(name: "Logging", package: "swift-log")]
        ),
        // Realistic agent events, for the demo, the tests and the benchmarks.
        .target(
            name: "StoaWorkload",
            dependencies: ["Stoa"]
        ),
        // The command line: parses, calls the library, prints.
        .executableTarget(
            name: "stoa",
            dependencies: [
                "Stoa",
                "StoaWorkload",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // A child process for crash tests: appends with `always`, reports each acknowledged seq.
        .executableTarget(
            name: "stoa-crash-writer",
            dependencies: ["Stoa"],
            path: "Tests/CrashWriter"
        ),
        // Fuzz targets: any bytes in, a finding thrown (Tools/fuzz.sh, Tools/Fuzz/README.md).
        // Run by the fuzz driver below and by the corpus test in StoaTests.
        .target(
            name: "StoaFuzzTargets",
            dependencies: ["Stoa", "CZlib"],
            path: "Tools/Fuzz/Targets"
        ),
        // The fuzz driver: libFuzzer's when Tools/fuzz.sh builds it, else a replayer of files.
        .executableTarget(
            name: "stoa-fuzz",
            dependencies: ["StoaFuzzTargets"],
            path: "Tools/Fuzz/Driver"
        ),
        .target(
            name: "StoaTestSupport",
            dependencies: ["Stoa"],
            path: "Tests/StoaTestSupport"
        ),
        .testTarget(
            name: "StoaTests",
            dependencies: ["Stoa", "StoaWorkload", "StoaTestSupport", "StoaFuzzTargets", "stoa-crash-writer"]
        ),
        .testTarget(
            name: "StoaLoggingTests",
            dependencies: ["StoaLogging", "StoaTestSupport", "stoa", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "StoaCLITests",
            dependencies: ["StoaTestSupport", "stoa"]
        ),
    ]
)
