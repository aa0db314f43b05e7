import Testing
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
    let task = hub.spawn(body)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await task.value }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        let first = try await group.next()!
        group.cancelAll()
        guard let value = first else {
            task.cancel()
            throw TestTimedOut(limit: limit)
        }
        return value
    }
}

/// Bytes of an ASCII/UTF-8 string.
func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// SplitMix64: a small seeded generator, so that a failing case can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
