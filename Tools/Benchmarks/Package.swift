// swift-tools-version: 6.1
import PackageDescription

// Benchmarks live apart from the tests and never gate CI on timing. Run them
// from this directory:
//
//     swift run -c release stoa-bench append
//
// The main package is a dependency by path, so the benchmarks always measure
// the sources next to them. It is named explicitly: a path dependency is
// otherwise known by its directory's name, which depends on the clone.
let package = Package(
    name: "StoaBenchmarks",
    dependencies: [
        .package(name: "Stoa", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "stoa-bench",
            dependencies: [
                .product(name: "Stoa", package: "Stoa"),
                .product(name: "StoaWorkload", package: "Stoa"),
            ]
        ),
    ]
)
