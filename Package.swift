// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "GreenIO",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "GreenIO", targets: ["GreenIO"]),
        .library(name: "GreenIORESP", targets: ["GreenIORESP"]),
        .executable(name: "greenio", targets: ["greenio"]),
        .executable(name: "smtp-example", targets: ["SMTPExample"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
            dependencies: ["CGreenIO", "COpenSSL"],
            swiftSettings: [
                // Async functions run on their caller's executor (the hub) instead of hopping to the
                // generic executor and back on every call: measured as the largest per-wait cost.
                .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            ]
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
                "GreenIORESP",
                "CGreenIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .executableTarget(
            name: "SMTPExample",
            dependencies: ["GreenIO"],
            path: "Examples/SMTPExample",
            swiftSettings: [.enableUpcomingFeature("NonisolatedNonsendingByDefault")]
        ),
        .testTarget(
            name: "GreenIOTests",
            dependencies: ["GreenIO", "GreenIORESP", "CGreenIO", "greenio", "SMTPExample"]
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
        dependencies: ["GreenIO", "GreenIORESP"],
        path: "Fuzz/GreenIOFuzz",
        swiftSettings: [
            .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
            .enableExperimentalFeature("Extern"),
        ]
    ))
}
