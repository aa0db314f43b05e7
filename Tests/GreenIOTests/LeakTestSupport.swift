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
///   polled until it is back at or below "before" (for up to `exactSettle`), then, if other
///   suites hold descriptors just then, until it is within `slack` of it (for up to `settle`).
///   Descriptors that other suites open come and go; leaked ones stay. Run alone
///   (`swift test --filter LeakTests`), the count comes back exactly; the reported figures show it.
///
/// What it cannot do: catch a leak smaller than `slack` in all, or one hidden because another
/// suite happened to hold many descriptors while "before" was sampled (then "before" is high and
/// the check is weaker for that run, never wrongly failing). The child-process checks
/// (`/proc/PID/fd` of a `greenio serve`) are exact, since nothing else runs in that process.
struct DescriptorBalance {
    /// How many times the workload runs.
    var iterations = 100
    /// How far above "before" the count may settle, for other suites' descriptors.
    var slack = 40
    /// How long to wait for the count to come back exactly.
    var exactSettle: Duration = .seconds(1)
    /// How much longer to wait for it to come back within `slack`: longer than any other suite
    /// holds many descriptors.
    var settle: Duration = .seconds(30)

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
    /// expects the descriptor count to come back (see the type's comment). A measurement whose
    /// "before" was inflated by another suite (higher than the settled "after" by more than
    /// `slack`) proves little, so it is repeated, up to `attempts` in all. Reports the figures.
    @discardableResult
    func check(_ name: String, limit: Duration = .seconds(20), attempts: Int = 3,
               sourceLocation: SourceLocation = #_sourceLocation,
               _ workload: @escaping @Sendable (Int) async throws -> Void) async throws -> Outcome {
        // One run first: process-wide state made once and kept (the first hub's lazily made
        // descriptors, OpenSSL's tables) is not a leak.
        try await onHub(limit: limit) { try await workload(0) }
        var outcome = try await measure(name, limit: limit, workload)
        for _ in 1..<max(attempts, 1) where outcome.before > outcome.after + slack {
            reportMeasurement("leak check \(outcome) (noisy before; measuring again)")
            outcome = try await measure(name, limit: limit, workload)
        }
        #expect(outcome.after <= outcome.before + slack, "\(outcome); open now: \(openDescriptorsDescription())",
                sourceLocation: sourceLocation)
        reportMeasurement("leak check " + outcome.description)
        return outcome
    }

    /// One measurement: "before", `iterations` runs, then "after" once settled.
    private func measure(_ name: String, limit: Duration,
                         _ workload: @escaping @Sendable (Int) async throws -> Void) async throws -> Outcome {
        let before = try await lowestCount(samples: 5)
        for iteration in 0..<iterations {
            try await onHub(limit: limit) { try await workload(iteration) }
        }
        let start = Deadline.now
        var after = try currentCount()
        // Exactly back, usually within milliseconds (hub threads still exiting)...
        let exactDeadline = Deadline.after(exactSettle)
        while after > before && !exactDeadline.hasPassed {
            try await Task.sleep(for: .milliseconds(10))
            after = try currentCount()
        }
        // ... or, while another suite holds descriptors (one holds 4,000 for seconds), within the
        // slack once that suite has let them go.
        let deadline = Deadline.after(settle)
        while after > before + slack && !deadline.hasPassed {
            try await Task.sleep(for: .milliseconds(50))
            after = try currentCount()
        }
        return Outcome(name: name, before: before, after: after, iterations: iterations,
                       settled: seconds(since: start))
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
