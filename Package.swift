// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "GreenIO",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "GreenIO", targets: ["GreenIO"]),
        .executable(name: "greenio", targets: ["greenio"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CGreenIO"),
        .target(
            name: "GreenIO",
            dependencies: ["CGreenIO"]
        ),
        .executableTarget(
            name: "greenio",
            dependencies: [
                "GreenIO",
                "CGreenIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "GreenIOTests",
            dependencies: ["GreenIO", "CGreenIO", "greenio"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
