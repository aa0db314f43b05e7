import Testing
import GreenIOTesting
@testable import GreenIO

/// The error a test helper throws when a green-thread body outlives its limit.
struct TestTimedOut: Error, CustomStringConvertible {
    let limit: Duration
    var description: String { "test body did not finish within \(limit)" }
}

/// Runs `body` as a green thread on a fresh hub thread and returns its result. If it takes longer
/// than `limit` the green thread is cancelled and `TestTimedOut` is thrown, so a hang fails one test.
/// The hub is stopped afterwards.
func onHub<T: Sendable>(limit: Duration = .seconds(30),
                        _ body: sending @escaping () async throws -> T) async throws -> T {
    let hub = try Hub.startThread(name: "test-hub")
    defer { hub.stop() }
    do {
        return try await hub.spawn(body).value(within: limit)
    } catch is VirtualTime.RealTimeLimitExceeded {
        throw TestTimedOut(limit: limit)
    }
}

/// Bytes of an ASCII/UTF-8 string.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The seeded generator of GreenIOTesting (SplitMix64), under the name these tests know.
typealias SplitMix64 = SeededGenerator
