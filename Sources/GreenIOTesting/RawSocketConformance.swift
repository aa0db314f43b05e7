import Synchronization
import GreenIO

/// A conformance kit for `RawSocket` (Go's `nettest.TestConn` for GreenIO): one call runs a list
/// of named checks against connected pairs of sockets that you make, and returns what failed.
///
/// ```swift
/// @Test func myTransportConforms() async {
///     let report = await RawSocketConformance.run { try await MyTransport.connectedPair() }
///     #expect(report.passed, "\(report)")
/// }
/// ```
///
/// `makePair` is called in a green thread of a fresh hub, once per check (twice for
/// ``RawSocketConformance/Check/closeWakesWaiter``), and must return two connected, open sockets
/// (``ConfigurableRawSocket``): bytes one sends reach the
/// other. The checks close them. Where a check watches one socket's close from the other, the
/// first socket closes, so make the first one the side whose close is clean (for TLS over TCP, the
/// server: a client with unread session tickets closes with a reset).
///
/// Each check runs alone, in a green thread of its own hub thread, and waits only with deadlines
/// (a few seconds at most), so a broken transport fails a check instead of hanging it; a check
/// still running after ``RawSocketConformance/Traits/checkTimeLimit`` is cancelled and reported as failed. The checks
/// measure time with generous bounds, but run the kit from a suite that does not run other
/// timing-sensitive tests at the same moment (`.serialized`).
public enum RawSocketConformance {
    /// Makes a fresh connected pair of sockets (called in a green thread).
    public typealias PairMaker = @Sendable () async throws -> (any ConfigurableRawSocket, any ConfigurableRawSocket)

    /// Runs `checks`, one after the other, and reports the outcome of each.
    ///
    /// - Parameters:
    ///   - checks: which checks to run (all by default), in this order.
    ///   - traits: what the transport does where the contract leaves a choice.
    ///   - seed: the seed of the random chunking check; a failure's message names it, so passing
    ///     it again replays the same sizes.
    ///   - makePair: makes a connected pair (see the type's notes).
    /// - Returns: the report; it never throws: an error from `makePair` or a check is a failure of
    ///   that check.
    public static func run(_ checks: [Check] = Check.allCases, traits: Traits = Traits(), seed: UInt64 = 0x6772_6565_6E69_6F,
                           makePair: @escaping PairMaker) async -> Report {
        var results: [CheckResult] = []
        for check in checks {
            results.append(await runOne(check, traits: traits, seed: seed, makePair: makePair))
        }
        return Report(results: results)
    }

    /// Runs one check on a hub thread of its own, within `traits.checkTimeLimit`.
    private static func runOne(_ check: Check, traits: Traits, seed: UInt64, makePair: @escaping PairMaker) async -> CheckResult {
        let start = ContinuousClock.now
        let hub: Hub
        do {
            switch traits.clock {
            case .real: hub = try Hub.startThread(name: "conformance")
            case .virtual(let threshold): hub = try VirtualTime(autojumpThreshold: threshold).hub
            }
        } catch {
            return CheckResult(check: check, failures: ["cannot start a hub: \(error)"], duration: .zero)
        }
        defer { hub.stop() }
        let probe = ConformanceProbe(traits: traits, seed: seed, makePair: makePair)
        let task = hub.spawn {
            defer { probe.closeAll() }
            do {
                try await check.body(probe)
            } catch let failure as CheckFailure {
                probe.fail(failure.message)
            } catch {
                probe.fail("unexpected error: \(error)")
            }
        }
        // A race that does not wait for the loser: a check stuck in a transport that ignores
        // cancellation must not hold up the run (its hub thread is left behind).
        let race = FirstOutcome()
        let finished: Bool = await withCheckedContinuation { continuation in
            race.install(continuation)
            Task {
                _ = await task.result
                race.resume(true)
            }
            race.timer = Task {
                try? await Task.sleep(for: traits.checkTimeLimit)
                race.resume(false)
            }
        }
        race.cancelTimer()
        if !finished {
            task.cancel()
            probe.fail("did not finish within \(traits.checkTimeLimit) (cancelled)")
        }
        return CheckResult(check: check, failures: probe.failures, duration: ContinuousClock.now - start)
    }
}

/// The first of two outcomes, handed to a continuation exactly once.
private final class FirstOutcome: @unchecked Sendable {
    private let lock = Mutex<(continuation: CheckedContinuation<Bool, Never>?, timer: Task<Void, Never>?, done: Bool)>((nil, nil, false))

    func install(_ continuation: CheckedContinuation<Bool, Never>) {
        lock.withLock { $0.continuation = continuation }
    }

    var timer: Task<Void, Never>? {
        get { lock.withLock { $0.timer } }
        set { lock.withLock { $0.timer = newValue } }
    }

    func resume(_ value: Bool) {
        let continuation = lock.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return state.continuation
        }
        continuation?.resume(returning: value)
    }

    func cancelTimer() {
        lock.withLock { $0.timer }?.cancel()
    }
}
