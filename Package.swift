// swift-tools-version:6.2
import Foundation
import PackageDescription

/// One list of compiler settings for every target, so that the whole package is held to the same rules.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "authd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "authd", targets: ["authd"]),
        .executable(name: "authctl", targets: ["authctl"]),
        .library(name: "AuthdClient", targets: ["AuthdClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Wire types and the strict JSON codec: no I/O, no dependencies.
        .target(name: "AuthdProtocol", swiftSettings: swiftSettings),
        // The reference Argon2 implementation (RFC 9106), seen only by AuthdCore's password hasher.
        .systemLibrary(name: "CArgon2", pkgConfig: "libargon2", providers: [.apt(["libargon2-dev"])]),
        // Tokens, keys, configuration, policy, accounts and the store interface: no sockets, no database.
        .target(
            name: "AuthdCore",
            dependencies: [
                "AuthdProtocol",
                "CArgon2",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // SQLite from the system, seen only by the SQLite store.
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The single-host store engine (the default): one SQLite file in the state directory.
        .target(
            name: "AuthdSQLiteStore",
            dependencies: ["AuthdCore", "AuthdProtocol", "CSQLite"],
            swiftSettings: swiftSettings
        ),
        // The fleet's store engine: one PostgreSQL database shared by every node, with the node's
        // SQLite database as its local cache and outbox (passed in by the assembly, not imported).
        .target(
            name: "AuthdPostgresStore",
            dependencies: [
                "AuthdCore",
                "AuthdProtocol",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The NIO servers (the line protocol on Unix sockets; the read-only HTTP face), the request
        // dispatcher, and the daemon's assembly (the only place that picks a store engine).
        .target(
            name: "AuthdServer",
            dependencies: [
                "AuthdCore",
                "AuthdSQLiteStore",
                "AuthdPostgresStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // libsystemd, seen only by AuthdSystemd.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // sd_notify, socket activation and the native journal, in Swift.
        .target(
            name: "AuthdSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "authd",
            dependencies: [
                "AuthdProtocol",
                "AuthdServer",
                "AuthdSystemd",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // The library local services link to talk to authd.
        .target(
            name: "AuthdClient",
            dependencies: [
                "AuthdProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "authctl",
            dependencies: [
                "AuthdClient",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The tutorial's web service (POST /login, GET /protected, GET /admin) checking bearer
        // tokens with AuthdClient on every request. An example: it links nothing of the daemon.
        .executableTarget(
            name: "authd-example-service",
            dependencies: [
                "AuthdClient",
                "AuthdProtocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Examples/ProtectedService",
            swiftSettings: swiftSettings
        ),
        // `make bench-compare`'s ceiling for a cold verify: bare Ed25519 checks on every core.
        .executableTarget(
            name: "authd-crypto-baseline",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Benchmarks/CryptoBaseline",
            swiftSettings: swiftSettings
        ),
        // The fuzz targets' shared code: `make test` replays the corpus through it, `make fuzz`
        // links it into libFuzzer executables.
        .target(
            name: "AuthdFuzzing",
            dependencies: [
                "AuthdCore",
                "AuthdProtocol",
                "AuthdServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "AuthdProtocolTests", dependencies: ["AuthdProtocol"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AuthdCoreTests",
            dependencies: [
                "AuthdCore",
                "AuthdSQLiteStore",
                "CArgon2",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "AuthdIntegrationTests",
            dependencies: [
                "AuthdClient", "AuthdProtocol", "AuthdCore", "AuthdSQLiteStore", "AuthdPostgresStore", "AuthdServer", "AuthdSystemd",
                "AuthdFuzzing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// libFuzzer executables, only when `make fuzz` asks for them (AUTHD_FUZZ=1): they need libFuzzer,
// which only a -sanitize=fuzzer build links.
if ProcessInfo.processInfo.environment["AUTHD_FUZZ"] != nil {
    package.targets.append(.target(name: "CLibFuzzer", path: "Fuzz/CLibFuzzer"))
    for name in ["RequestLine", "Token", "Config", "HTTPHead"] {
        package.targets.append(
            .executableTarget(
                name: "Fuzz\(name)", dependencies: ["AuthdFuzzing", "CLibFuzzer"], path: "Fuzz/\(name)",
                swiftSettings: swiftSettings + [.unsafeFlags(["-parse-as-library"])]))
    }
}
