import CGreenIO
import GreenIO

/// A hub whose clock is virtual, so code that waits — timeouts of sockets, TLS sockets and file
/// objects, `Deadline`s, `Hub.sleep`, a server's idle, handshake and drain timers — can be tested in
/// milliseconds and asserted to the nanosecond (Trio's `MockClock`, swift-clocks' `TestClock`).
///
/// Everything on the hub's thread reads time through the hub: while its loop runs, `Deadline.now`
/// there is the virtual time. The clock moves in two ways:
/// - **Autojump** (the default): when no green thread of the hub can run, nothing arrived from
///   another thread, no work is out in the blocking pool (`Hub.offload`), and no descriptor turns
///   ready within `autojumpThreshold` of real time (`defaultAutojumpThreshold`, 20 ms, unless you
///   say otherwise), the clock jumps to the first pending timer.
/// - **By hand**: ``VirtualTime/advance(by:)`` / ``VirtualTime/advance(to:)``, from a green thread
///   of the hub.
///
/// ``VirtualTime/run(autojumpThreshold:limit:_:)`` runs a test body on a new hub on virtual time;
/// ``VirtualTime/elapsed`` says how much virtual time has passed.
///
/// Readiness still comes from the kernel: real sockets, socket pairs and TLS work unchanged, and a
/// jump never happens while a descriptor of the hub is ready. So a byte that a green thread of this
/// hub has sent over a socket pair, or over loopback TCP or TLS, is seen before the clock moves:
/// the kernel queues it at the receiving socket within the `send` call (Unix sockets always; TCP
/// over loopback whenever the kernel processes the packet in the sender's call, which is the rule —
/// under heavy load it defers that work to a kernel thread, which the default threshold waits for;
/// a threshold of zero can jump over it, and a loopback `connect` then times out). Over
/// TCP, turn Nagle's algorithm off on both ends (`setOption(.noDelay, true)`): it holds a small
/// segment back until the peer's delayed ACK, about 40 ms of real time later, and the clock would
/// jump meanwhile. A peer in another thread or process that needs real time to answer is not
/// waited for either: give it a threshold longer than its answer takes, or move the clock by hand
/// (`autojumpThreshold: nil`).
///
/// Time read on other threads is the system's: make deadlines on the hub's thread. A hub's
/// `slowJobThreshold` measures nothing on virtual time (the clock does not move during a job).
public final class VirtualTime: @unchecked Sendable {
    /// The hub running on virtual time.
    public let hub: Hub
    /// The virtual time at which the hub started.
    public let start: Deadline

    /// The autojump threshold of `init` and `run` unless given: 20 ms of real time per jump, long
    /// enough for a loaded machine's kernel to deliver loopback TCP it deferred (a threshold of zero
    /// was seen to jump over a loopback `connect` in CI), short enough that a test making a few
    /// jumps stays fast. Use `.zero` where every descriptor is a socket pair or scripted socket.
    public static let defaultAutojumpThreshold: Duration = .milliseconds(20)

    /// Starts a hub on virtual time on a thread of its own; start green threads on it with
    /// `hub.spawn` and stop it with `stop()`.
    /// - Parameter autojumpThreshold: how long (real time) the hub waits for a descriptor to turn
    ///   ready, when nothing else can run, before jumping to the next timer; nil never jumps.
    /// - Throws: `IOError` if the hub or its thread cannot be made.
    public init(autojumpThreshold: Duration? = VirtualTime.defaultAutojumpThreshold) throws {
        // Start at the real clock's reading: deadlines made just before on another thread are then
        // in the same range, and nothing in the hub starts at zero.
        let origin = cgreenio_monotonic_ns()
        hub = try Hub(virtualTimeStartingAt: origin, autojumpThreshold: autojumpThreshold)
        start = Deadline(nanoseconds: origin)
        try hub.startLoopThread(name: "greenio-virtual")
    }

    /// Stops the hub (as `Hub.stop()`): green threads still running are cancelled.
    public func stop() {
        hub.stop()
    }

    /// The virtual time now. Read it on the hub's thread.
    public var now: Deadline { Deadline(nanoseconds: hub.virtualNow ?? start.nanoseconds) }

    /// The virtual time since the hub started. Read it on the hub's thread.
    public var elapsed: Duration { .nanoseconds(Int64(clamping: now.nanoseconds - start.nanoseconds)) }

    /// Moves the clock forward by `duration` (a negative one does nothing). Timers due by then fire
    /// when the caller next waits (`try await Hub.yield()` lets them run at once).
    /// - Throws: `IOError` `.notOnHub` off the hub's thread.
    public func advance(by duration: Duration) throws {
        try advance(to: now.advanced(by: duration))
    }

    /// Moves the clock forward to `deadline` (never back), as `advance(by:)`.
    /// - Throws: `IOError` `.notOnHub` off the hub's thread.
    public func advance(to deadline: Deadline) throws {
        guard Hub.current === hub else {
            throw IOError(.notOnHub, "advance virtual time from a green thread of its hub")
        }
        hub.advanceVirtualTime(to: deadline.nanoseconds)
    }

    /// Runs `body` as a green thread of a new hub on virtual time, then stops the hub.
    ///
    /// - Parameters:
    ///   - autojumpThreshold: as `init(autojumpThreshold:)`.
    ///   - limit: real time the whole run may take; past it the green thread is cancelled and
    ///     `RealTimeLimitExceeded` thrown (so a test that would wait for ever fails instead).
    ///   - body: the test, run as the hub's first green thread with this run's `VirtualTime`.
    /// - Returns: what `body` returned.
    /// - Throws: what `body` threw, `RealTimeLimitExceeded`, or the hub's creation error.
    public static func run<Result: Sendable>(autojumpThreshold: Duration? = VirtualTime.defaultAutojumpThreshold, limit: Duration = .seconds(60),
                                             _ body: @escaping @Sendable (VirtualTime) async throws -> Result) async throws -> Result {
        let time = try VirtualTime(autojumpThreshold: autojumpThreshold)
        defer { time.stop() }
        return try await time.hub.spawn { try await body(time) }.value(within: limit)
    }

    /// `run` took longer than its real-time limit.
    public struct RealTimeLimitExceeded: Error, CustomStringConvertible {
        /// The limit that passed.
        public let limit: Duration
        /// "the virtual-time run took longer than LIMIT of real time".
        public var description: String { "the virtual-time run took longer than \(limit) of real time" }
    }
}

/// A bounded wait for a task's value, in real time.
extension Task where Failure == any Error {
    /// The task's value, waited for at most `limit` of real time (`Task.sleep`); past it the task
    /// is cancelled, and `VirtualTime.RealTimeLimitExceeded` thrown once it has ended. For a test
    /// that must fail rather than hang, whatever clock its hub runs on.
    /// - Throws: what the task threw, or `RealTimeLimitExceeded`.
    public func value(within limit: Duration) async throws -> Success {
        try await withThrowingTaskGroup(of: Success?.self) { group in
            group.addTask { try await self.value }
            group.addTask {
                try await Task<Never, Never>.sleep(for: limit)
                return nil
            }
            guard let first = try await group.next() else { throw Swift.CancellationError() }
            group.cancelAll()
            guard let value = first else {
                cancel()
                throw VirtualTime.RealTimeLimitExceeded(limit: limit)
            }
            return value
        }
    }
}
