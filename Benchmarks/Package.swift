// swift-tools-version:6.0
// The side-by-side benchmark peers (issue 6). Its own package so the root package's `swift build`
// and `swift test` never build it; the only place SwiftNIO appears.
import PackageDescription

let package = Package(
    name: "GreenIOBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        .executableTarget(
            name: "nio-echo",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
            ],
            path: "Sources/nio-echo",
            swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
