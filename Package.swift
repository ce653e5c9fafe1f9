// swift-tools-version:6.0
import PackageDescription

/// Settings every Swift target shares (as swift-log does): explicit existentials, imports that
/// are visible only where they are written, and internal imports unless a file says `public import`.
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "stepgate",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stepgate", targets: ["stepgate"]),
        .executable(name: "stepgate-hook", targets: ["stepgate-hook"]),
        .library(name: "StatesLanguage", targets: ["StatesLanguage"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    ],
    targets: [
        // The pure engine: Foundation only, no file or network I/O.
        .target(name: "StatesLanguage"),
        // YAML documents (through Yams) turned into the engine's JSON values with source positions.
        .target(name: "YAMLLoader", dependencies: ["StatesLanguage", "Yams"]),
        // libgit2, seen through one module map; only the Git target imports it.
        .systemLibrary(
            name: "CLibgit2", pkgConfig: "libgit2",
            providers: [.apt(["libgit2-dev"]), .brew(["libgit2"])]),
        .target(name: "Git", dependencies: ["CLibgit2"]),
        // The repository's own .stepgate/stepgate.yaml: schema, parsing, validation.
        .target(name: "Config", dependencies: ["StatesLanguage", "YAMLLoader"]),
        // Durable state on SQLite or PostgreSQL: executions, history, checkpoints, dedupe keys, cursors, approvals,
        // leases, audit log.
        .target(
            name: "Store",
            dependencies: [
                "StatesLanguage", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Logging", package: "swift-log"),
            ]),
        // Task resources and their sandbox, roles and secrets from server policy, task identity tokens, durable execution.
        .target(
            name: "Runtime",
            dependencies: [
                "StatesLanguage", "Config", "Git", "Store", "YAMLLoader", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        // Server-side git hooks: pre-receive, update, post-receive, and their installation.
        .target(name: "Hooks", dependencies: ["StatesLanguage", "Config", "Git", "YAMLLoader", "Runtime", "Store"]),
        // The hooks alone, for the shims: no argument parser, no review clients, no bot.
        .executableTarget(name: "stepgate-hook", dependencies: ["Hooks"]),
        // Gerrit REST and Phorge Conduit over HTTP; knows nothing of the engine.
        .target(
            name: "ReviewClients",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        // AWS over HTTP: Signature V4 (swift-crypto) and the Step Functions API on AsyncHTTPClient.
        // The AWS Step Functions engine (`engine: aws`) behind the Runtime's RemoteEngine seam, and its activity worker.
        .target(
            name: "AWS",
            dependencies: [
                "Runtime", "Store", "StatesLanguage", "Config", "YAMLLoader",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),
        // The polling review bot: triggers, executions, reports.
        .target(
            name: "Bot",
            dependencies: [
                "ReviewClients", "Runtime", "Store", "Config", "StatesLanguage", "YAMLLoader", "AWS",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]),
        .executableTarget(
            name: "stepgate",
            dependencies: [
                "StatesLanguage", "YAMLLoader", "Config", "Git", "Store", "Runtime", "Hooks", "ReviewClients", "Bot",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(
            name: "stepgate-bench",
            dependencies: ["StatesLanguage", "Runtime", "Store", "AWS", .product(name: "AsyncHTTPClient", package: "async-http-client")]),
        .testTarget(name: "StatesLanguageTests", dependencies: ["StatesLanguage", "YAMLLoader"]),
        .testTarget(name: "GitTests", dependencies: ["Git"], exclude: ["Support"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "StatesLanguage", "YAMLLoader"]),
        .testTarget(name: "CLITests", dependencies: ["StatesLanguage"]),
        // Stores for tests: a fresh SQLite file or a fresh schema of the loopback PostgreSQL (make test starts it).
        .target(name: "StoreTestSupport", dependencies: ["Store"], path: "Tests/Support/StoreTestSupport"),
        .testTarget(name: "AWSTests", dependencies: ["AWS", "Runtime", "Store", "StatesLanguage", "Config", "StoreTestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "StatesLanguage", "StoreTestSupport"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "Store", "StatesLanguage", "Config", "Git", "StoreTestSupport"]),
        .testTarget(name: "HooksTests", dependencies: ["Hooks", "Git", "Config", "StatesLanguage"]),
        // Launches the Python fakes of Gerrit and Phorge (Tests/Fakes) for the tests that talk to them.
        .target(
            name: "ReviewFakes", dependencies: ["ReviewClients", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Tests/Support/ReviewFakes"),
        .testTarget(name: "ReviewClientsTests", dependencies: ["ReviewClients", "ReviewFakes"], exclude: ["Fixtures"]),
        .testTarget(
            name: "BotTests",
            dependencies: ["Bot", "ReviewClients", "ReviewFakes", "Runtime", "Store", "Config", "Git", "StatesLanguage", "StoreTestSupport"]),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + strictSettings
}
