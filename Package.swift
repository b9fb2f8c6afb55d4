// swift-tools-version: 6.2
import PackageDescription

let package = Package(
    name: "PromptGate",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "promptgate", targets: ["promptgate"]),
        .library(name: "PromptGateCore", targets: ["PromptGateCore"]),
        .library(name: "PromptGateFilter", targets: ["PromptGateFilter"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/apple/swift-openapi-runtime", from: "1.13.4"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        // PCRE2, 8-bit code units; the shim header fixes PCRE2_CODE_UNIT_WIDTH.
        .systemLibrary(
            name: "CPCRE2",
            pkgConfig: "libpcre2-8",
            providers: [.apt(["libpcre2-dev"])]
        ),
        // System ICU behind our own unversioned names. The public header includes no ICU header,
        // so Swift modules that import Foundation never see ICU's C types (see docs/icu-from-swift.md).
        .target(
            name: "CICUWrap",
            linkerSettings: [
                // Foundation's ICU first, so its C++ symbols bind to itself and not to system ICU.
                .linkedLibrary("_FoundationICU", .when(platforms: [.linux])),
                .linkedLibrary("icui18n"),
                .linkedLibrary("icuuc"),
            ]
        ),
        .target(
            name: "PromptGateCore",
            dependencies: [
                "CPCRE2",
                "CICUWrap",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            resources: [
                .embedInCode("Resources/rules"),
                .embedInCode("Resources/presets"),
            ]
        ),
        // The Unix filter front end: prompts on stdin, verdicts on stdout, in order, on every core.
        .target(name: "PromptGateFilter", dependencies: ["PromptGateCore"]),
        // The generated corpus `promptgate bench` measures on.
        .target(
            name: "PromptGateBench", dependencies: ["PromptGateCore"],
            resources: [.embedInCode("Resources/naive_filter.py"), .embedInCode("Resources/ahocorasick_filter.py")]
        ),
        // Access control in front of policy: IP allowlist (CIDR, trusted proxies), API keys, GCRA rate limits.
        .target(
            name: "PromptGateAccess",
            dependencies: [
                "PromptGateCore",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // libcurl, the outbound HTTP client to ComfyUI; the shim wraps the variadic setopt calls.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // From an allowed request to ComfyUI: workflow binding, tasks and queue, the ComfyUI client.
        .target(
            name: "PromptGateDispatch",
            dependencies: [
                "PromptGateCore", "CCurl",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.embedInCode("Resources/workflows")]
        ),
        // A ComfyUI stand-in for tests and demos (`promptgate comfy-sim`).
        .target(
            name: "ComfySim",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        // The HTTP front door: configuration, Hummingbird routes, metrics, lifecycle.
        .target(
            name: "PromptGateServer",
            dependencies: [
                "PromptGateCore",
                "PromptGateAccess",
                "PromptGateDispatch",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        // `promptgate submit`: batches of requests (JSONL or product CSV) through a gateway, followed by SSE,
        // images downloaded, resumable.
        .target(
            name: "PromptGateClient",
            dependencies: [
                "PromptGateDispatch",
                .product(name: "OpenAPIRuntime", package: "swift-openapi-runtime"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "promptgate",
            dependencies: [
                "PromptGateCore",
                "PromptGateClient",
                "PromptGateFilter",
                "PromptGateBench",
                "PromptGateServer",
                "PromptGateDispatch",
                "ComfySim",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "PromptGateTestSupport",
            dependencies: ["PromptGateCore", "ComfySim", .product(name: "Hummingbird", package: "hummingbird")],
            path: "Tests/PromptGateTestSupport"
        ),
        .testTarget(
            name: "PromptGateCoreTests",
            dependencies: ["PromptGateCore", "PromptGateBench", "PromptGateTestSupport"]
        ),
        .testTarget(
            name: "PromptGateFilterTests",
            dependencies: ["PromptGateFilter", "PromptGateTestSupport"]
        ),
        .testTarget(
            name: "PromptGateAccessTests",
            dependencies: ["PromptGateAccess", "PromptGateTestSupport"]
        ),
        .testTarget(
            name: "PromptGateDispatchTests",
            dependencies: [
                "PromptGateDispatch", "PromptGateTestSupport", "ComfySim",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "PromptGateServerTests",
            dependencies: [
                "PromptGateServer", "PromptGateClient", "PromptGateTestSupport", "ComfySim",
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PromptGateClientTests",
            dependencies: ["PromptGateClient", "PromptGateTestSupport"]
        ),
        .testTarget(
            name: "PromptGateCLITests",
            dependencies: ["PromptGateTestSupport", "promptgate"]
        ),
    ],
    cxxLanguageStandard: .cxx17
)

// The project's own Swift code builds with every warning as an error (dependencies keep their warnings).
for target in package.targets where target.type != .system && target.name != "CICUWrap" {
    target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
}
