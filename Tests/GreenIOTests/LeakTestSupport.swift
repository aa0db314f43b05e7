import Glibc
import Testing
@testable import GreenIO

/// A before/after check of this process's open descriptor count around a repeated workload.
///
/// Why not an exact check before and after every test: the tests of this process run in
/// parallel, so the process-wide count moves with whatever other suites happen to be doing, and an
/// exact per-test check would fail at random (or, made lenient, would prove nothing). The check is
/// made honest this way instead:
///
/// - Amplified: the workload runs `iterations` times after one unmeasured warm-up run, each time
///   on a fresh hub (so a hub's own epoll and wake-up descriptors are checked too). A leak of one descriptor per run adds up to
///   `iterations` descriptors, far above the `slack`.
/// - Isolated from the heavy suites: the leak suites are nested in `ResourceUsageTests`, which is
///   serialized, so the 10,000-connection test never runs during a check.
/// - Tolerant only of transient noise: "before" is the lowest of a few samples, and "after" is
///   polled until it is back at or below "before" (for up to `settle`). Descriptors that other
///   suites open come and go; leaked ones stay. Only then may it exceed "before" by `slack`.
///   Run alone (`swift test --filter LeakTests`), the count comes back exactly; the reported
///   figures show it.
///
/// A leak smaller than `slack` in total, or one that other suites' noise hides, is not caught
/// here; the child-process checks (`/proc/PID/fd` of a `greenio serve`) are exact, since nothing
/// else runs in that process.
struct DescriptorBalance {
    /// How many times the workload runs.
    var iterations = 100
    /// How far above "before" the count may settle, for other suites' descriptors.
    var slack = 40
    /// How long the count may take to come back.
    var settle: Duration = .seconds(3)

    /// The outcome of one check.
    struct Outcome: CustomStringConvertible {
        let name: String
        let before: Int
        let after: Int
        let iterations: Int
        let settled: Double
        var description: String {
            "\(name): \(before) fds before, \(after) after \(iterations) runs (settled in \(settled) s)"
        }
    }

    /// Runs `workload(iteration)` `iterations` times, each on a fresh hub within `limit`, and
    /// expects the descriptor count to come back (see the type's comment). Reports the figures.
    @discardableResult
    func check(_ name: String, limit: Duration = .seconds(20), sourceLocation: SourceLocation = #_sourceLocation,
               _ workload: @escaping @Sendable (Int) async throws -> Void) async throws -> Outcome {
        // One run first: process-wide state made once and kept (the first hub's lazily made
        // descriptors, OpenSSL's tables) is not a leak.
        try await onHub(limit: limit) { try await workload(0) }
        let before = try await lowestCount(samples: 5)
        for iteration in 0..<iterations {
            try await onHub(limit: limit) { try await workload(iteration) }
        }
        let start = Deadline.now
        let deadline = Deadline.after(settle)
        var after = try currentCount()
        while after > before && !deadline.hasPassed {
            try await Task.sleep(for: .milliseconds(10))
            after = try currentCount()
        }
        let outcome = Outcome(name: name, before: before, after: after, iterations: iterations,
                              settled: seconds(since: start))
        #expect(after <= before + slack, "\(outcome); open now: \(openDescriptorsDescription())",
                sourceLocation: sourceLocation)
        reportMeasurement("leak check " + outcome.description)
        return outcome
    }

    private func currentCount() throws -> Int {
        guard let count = openFileDescriptorCount() else {
            throw ChildProcessError(description: "cannot list /proc/self/fd")
        }
        return count
    }

    private func lowestCount(samples: Int) async throws -> Int {
        var lowest = Int.max
        for _ in 0..<samples {
            lowest = min(lowest, try currentCount())
            try await Task.sleep(for: .milliseconds(5))
        }
        return lowest
    }

    /// The open descriptors and what they are, for a failure message.
    private func openDescriptorsDescription() -> String {
        (openFileDescriptors() ?? []).sorted().map { "\($0)=\(descriptorTarget($0))" }.joined(separator: " ")
    }
}
