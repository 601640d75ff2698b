// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live apart from the tests and never gate CI on timing. Run them
// from this directory:
//
//     swift run -c release stoa-bench append
//     swift run -c release stoa-bench query [--records N]
//
// The main package is a dependency by path, so the benchmarks always measure
// the sources next to them. It is named explicitly: a path dependency is
// otherwise known by its directory's name, which depends on the clone.
let package = Package(
    name: "StoaBenchmarks",
    dependencies: [
        .package(name: "Stoa", path: "../.."),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // SQLite's C API and zlib, for the SQLite event store `query` races
        // against (Debian: libsqlite3-dev; zlib1g-dev).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev", "zlib1g-dev"])]
        ),
        .executableTarget(
            name: "stoa-bench",
            dependencies: [
                "CSQLite",
                .product(name: "Stoa", package: "Stoa"),
                .product(name: "StoaWorkload", package: "Stoa"),
                .product(name: "StoaLogging", package: "Stoa"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ]
)
