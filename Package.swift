// swift-tools-version:6.0
// pgbackup — backup and point-in-time recovery for PostgreSQL.
//
// Layers, lowest first; each module imports only the ones below it (see ../shared/DESIGN.md).
// Every module a target imports is declared here (scripts/check-imports checks it; the build runs
// with --explicit-target-dependency-import-check=error, which catches an import from outside the
// declared graph):
//   C system libraries (CLibPQ, CZlib, CZstd, CCurl + CCurlShim)
//   → PGBackupFoundations (LSN, timelines, WAL segment names, history files, tar, codecs, checksums)
//   → PGBackupStorage     (the ObjectStore protocol and its drivers)
//   → PGBackupPostgres    (libpq connection, replication protocol)
//   → PGBackupRepository  (repository format, catalog, manifests, WAL index, locks)
//   → PGBackupServices    (configuration, init, archiver, backup, restore, …)
//   → PGBackupDaemon      (the sidecar: service lifecycle, schedules, HTTP health and metrics)
//   → pgbackup            (the command-line front end)
import PackageDescription

let package = Package(
    name: "pgbackup",
    products: [
        .executable(name: "pgbackup", targets: ["pgbackup"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // MARK: C system libraries
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        // curl_easy_setopt/getinfo are variadic, which Swift cannot call: typed one-line wrappers.
        .target(name: "CCurlShim", dependencies: ["CCurl"]),

        // MARK: pgbackup, layer by layer
        .target(
            name: "PGBackupFoundations",
            dependencies: ["CZlib", "CZstd", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "PGBackupStorage",
            dependencies: ["PGBackupFoundations", "CCurlShim", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(name: "PGBackupPostgres", dependencies: ["PGBackupFoundations", "CLibPQ"]),
        .target(name: "PGBackupRepository", dependencies: ["PGBackupFoundations", "PGBackupStorage"]),
        .target(
            name: "PGBackupServices",
            dependencies: [
                "PGBackupFoundations", "PGBackupStorage", "PGBackupPostgres", "PGBackupRepository",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .target(
            name: "PGBackupDaemon",
            dependencies: [
                "PGBackupFoundations", "PGBackupPostgres", "PGBackupRepository", "PGBackupServices",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "pgbackup",
            dependencies: [
                "PGBackupFoundations", "PGBackupStorage", "PGBackupRepository", "PGBackupServices", "PGBackupDaemon",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: tests
        // Real PostgreSQL 15 clusters and helpers for the integration and end-to-end tests.
        .target(name: "PGBackupTestSupport", dependencies: ["PGBackupFoundations"]),
        .testTarget(
            name: "PGBackupFoundationsTests",
            dependencies: [
                "PGBackupFoundations", "PGBackupTestSupport",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(name: "PGBackupStorageTests", dependencies: ["PGBackupFoundations", "PGBackupStorage", "PGBackupTestSupport"]),
        .testTarget(name: "PGBackupPostgresTests", dependencies: ["PGBackupFoundations", "PGBackupPostgres", "PGBackupTestSupport"]),
        .testTarget(
            name: "PGBackupRepositoryTests",
            dependencies: ["PGBackupFoundations", "PGBackupStorage", "PGBackupRepository", "PGBackupTestSupport"]),
        .testTarget(
            name: "PGBackupServicesTests",
            dependencies: [
                "PGBackupFoundations", "PGBackupStorage", "PGBackupPostgres", "PGBackupRepository", "PGBackupServices",
                "PGBackupTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "PGBackupDaemonTests",
            dependencies: [
                "PGBackupFoundations", "PGBackupStorage", "PGBackupServices", "PGBackupDaemon", "PGBackupTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "EndToEndTests",
            // The repository library reads back what the binary stored, to check it object by object.
            // The restore tests call the services' internals (`@testable import PGBackupServices`).
            dependencies: [
                "pgbackup", "PGBackupFoundations", "PGBackupStorage", "PGBackupRepository", "PGBackupServices",
                "PGBackupTestSupport", .product(name: "Logging", package: "swift-log"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
