// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "GreenIO",
    // Linux only (epoll, eventfd, signalfd): no `platforms` entry, since SwiftPM's list names only
    // Apple systems' minimum versions; elsewhere the build stops with "GreenIO supports Linux only".
    products: [
        .library(name: "GreenIO", targets: ["GreenIO"]),
        .library(name: "GreenIOServer", targets: ["GreenIOServer"]),
        .library(name: "GreenIORESP", targets: ["GreenIORESP"]),
        .library(name: "GreenIOTesting", targets: ["GreenIOTesting"]),
        .executable(name: "greenio", targets: ["greenio"]),
        .executable(name: "smtp-example", targets: ["SMTPExample"]),
        .executable(name: "line-server", targets: ["LineServer"]),
        .executable(name: "service-group-example", targets: ["ServiceGroupExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // Documentation only: `swift package generate-documentation` (`.ci/docs`); no target depends on it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .target(name: "CGreenIO"),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .target(
            name: "GreenIO",
            dependencies: ["CGreenIO", "COpenSSL", .product(name: "Logging", package: "swift-log")],
            swiftSettings: [
                // Async functions run on their caller's executor (the hub) instead of hopping to the
                // generic executor and back on every call: measured as the largest per-wait cost.
                .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            ]
        ),
        .target(
            name: "GreenIOServer",
            dependencies: [
                "GreenIO",
                "CGreenIO",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .target(
            name: "GreenIOTesting",
            dependencies: ["GreenIO", "CGreenIO"],
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .target(
            name: "GreenIORESP",
            dependencies: ["GreenIO"],
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "greenio",
            dependencies: [
                "GreenIO",
                "GreenIOServer",
                .product(name: "Logging", package: "swift-log"),
                "GreenIORESP",
                "CGreenIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "SMTPExample",
            dependencies: ["GreenIO", "GreenIOServer", .product(name: "Logging", package: "swift-log")],
            path: "Examples/SMTPExample",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "LineServer",
            dependencies: ["GreenIO", "GreenIOServer", .product(name: "Logging", package: "swift-log")],
            path: "Examples/LineServer",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "ServiceGroupExample",
            dependencies: [
                "GreenIOServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/ServiceGroupExample",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .testTarget(
            name: "GreenIOTests",
            dependencies: [
                "GreenIO", "GreenIOServer", "GreenIORESP", "GreenIOTesting", "CGreenIO", "greenio", "SMTPExample", "LineServer", "ServiceGroupExample",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The libFuzzer target (`.ci/fuzz`), declared only when GREENIO_FUZZ is set: the normal build
// neither compiles it nor links libFuzzer.
if Context.environment["GREENIO_FUZZ"] != nil {
    package.products.append(.executable(name: "greenio-fuzz", targets: ["GreenIOFuzz"]))
    package.targets.append(.executableTarget(
        name: "GreenIOFuzz",
        dependencies: ["GreenIO", "GreenIORESP", "GreenIOServer"],
        path: "Fuzz/GreenIOFuzz",
        swiftSettings: [
            .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            .enableExperimentalFeature("Extern"),
        ]
    ))
}
