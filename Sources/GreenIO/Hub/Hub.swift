// Theory of operation
// ===================
//
// A hub is one epoll loop on one thread, and it is also the Swift `TaskExecutor` that runs the
// green threads of that thread. A green thread is an ordinary Swift task started with the hub as
// its executor preference (`Hub.spawn`); its child tasks inherit the preference, so every job of
// every green thread runs on the hub thread, one at a time, between polls. Nothing on the hot path
// takes a lock of ours: a job enqueued from the hub thread goes straight onto `ready`.
//
// Waiting. A socket first tries its system call; only when the call says "would block" does it
// call `wait(for:on:deadline:)`. The wait parks the task in one of the descriptor's wait slots and,
// if it has a deadline, in the timer heap. Exactly one of four things resumes it, and `resume`
// removes it from both places first, so it is resumed once:
//   1. epoll reports the direction ready (or an error/hang-up, which wakes both directions);
//   2. its deadline passes (timeout error);
//   3. its task is cancelled (CancellationError);
//   4. the descriptor is closed or deregistered through the hub ("closed" error, delivered before
//      the fd is really closed, so a reused fd number can never resume an old waiter).
// Descriptors are registered once, edge-triggered. That is safe because the would-block result
// and the wait happen on the hub thread with no poll in between: any readiness after the failed
// call produces a new edge. Readiness that arrives while nobody waits is remembered in the
// registration and consumed by the next wait, which then returns at once; callers loop (try the
// call again, wait again), so a stale or spurious wake-up costs one system call, never a wrong
// result.
//
// Cancellation. Installing a cancellation handler around every wait is the largest cost we control,
// so each green thread installs one for its whole life; the hub records which wait the thread is in
// and the handler resumes that one. Tasks the hub did not spawn (children, foreign tasks) fall back
// to a handler per wait. Cancellation is re-checked after a wait is registered.
//
// Other threads. Enqueueing a job, cancelling a task, closing a socket or stopping the hub from
// another thread goes through a locked inbox and the poller's wake-up (an eventfd); the loop drains
// the inbox when an atomic flag says it is non-empty.
//
// The operating system. The hub reaches epoll only through its poller (`Poller.swift`,
// `EpollPoller.swift`): register, re-register and remove a descriptor with a tag (the descriptor
// number and the registration's generation), wait with a timeout and be handed each ready tag with
// its readiness, and wake the wait from another thread. The poller is a concrete type, so its
// per-event callback is inlined into the loop (`poll(timeoutMilliseconds:)`).
//
// Timers are absolute monotonic deadlines in an indexed heap, ties broken by insertion order, and
// epoll timeouts are rounded up to the next millisecond so the loop never spins on a remainder.
//
// Virtual time (for tests, GreenIOTesting). A hub made with a virtual clock installs it in a
// thread-local while its loop runs, and the one clock read of the package, `cgreenio_monotonic_ns`,
// returns it there: deadlines, timeouts and timers all follow it. The clock moves only between
// jobs: by hand, or — autojump — when the loop finds nothing to run, nothing in the inbox, no
// offload out and no descriptor ready within the threshold; then it jumps to the first timer.
// Readiness still comes from epoll, so the clock never jumps over an event the kernel has queued.

import CGreenIO
import Glibc
import Logging
import Synchronization

/// An epoll loop on one thread that runs green threads (Swift tasks) and parks them on file
/// descriptors and timers.
///
/// Start one with ``Hub/run(_:)`` (on the calling thread, until a root body finishes) or
/// ``Hub/startThread(name:)`` (on a new thread, until ``Hub/stop()``), then start green threads with
/// ``Hub/spawn(_:)``. Sockets created inside green threads use the hub of their thread.
///
/// A green thread parks with ``Hub/sleep(for:)``, ``Hub/yield()``, or a wait on a descriptor (what
/// ``Socket`` and ``TLSSocket`` do when a system call would block); work that can only block runs on
/// a helper thread with ``Hub/offload(_:)``. ``Hub/slowJobThreshold`` reports a green thread that
/// holds the hub too long.
public final class Hub: TaskExecutor, @unchecked Sendable {
    // MARK: Hub-thread state (touched only on the hub thread; no exclusivity checks)

    @exclusivity(unchecked) var ready: [UnownedJob] = []
    @exclusivity(unchecked) var running: [UnownedJob] = []
    @exclusivity(unchecked) var registrations: [FDRegistration?] = []
    @exclusivity(unchecked) var timers = TimerHeap()
    @exclusivity(unchecked) var greenThreads = GreenThreadTable()
    @exclusivity(unchecked) var nextGeneration: UInt32 = 1
    /// Set once the hub winds down (`stop()`, or `run` after its body): green threads that start
    /// from then on are cancelled at once.
    @exclusivity(unchecked) var isStopping = false
    @exclusivity(unchecked) var stoppedLoop = false
    @exclusivity(unchecked) var waiterCount = 0
    /// Objects to give back memory once their wait has lasted a while (`releaseWhenIdle`).
    @exclusivity(unchecked) var idleReleases = IdleReleaseQueue()
    #if DEBUG
    /// Debug builds only: how many waits were parked and how many were resumed, and how many resume
    /// calls found their waiter already resumed (a cancellation racing a wake-up: harmless, ignored).
    /// Once the hub is idle the first two are equal; a waiter resumed twice, or never, breaks that.
    @exclusivity(unchecked) var debugWaitCounts = WaitCounts()
    #endif

    /// Where the hub's default handlers report (swift-log, label "greenio.hub"): whatever
    /// `LoggingSystem` the program bootstrapped, standard error by default.
    public static let logger = Logger(label: "greenio.hub")

    /// Called with any error thrown by a timer callback; the hub keeps running.
    /// The default logs the error at `error` level through `Hub.logger`.
    public var errorHandler: @Sendable (any Error) -> Void = { error in
        Hub.logger.error("timer callback failed: \(error)")
    }

    /// Debug option (eventlet's `hub_blocking_detection`): when set, every job that holds the hub
    /// thread at least this long — a green thread running between two waits without yielding, or
    /// blocking in a system call — is reported to `slowJobHandler`. Nil (the default) costs nothing.
    /// Set it on the hub thread or before the loop starts.
    public var slowJobThreshold: Duration? {
        get { slowJobThresholdNanoseconds == 0 ? nil : .nanoseconds(Int64(clamping: slowJobThresholdNanoseconds)) }
        set { slowJobThresholdNanoseconds = newValue.map { UInt64(max(1, $0.nanosecondsRoundedUp)) } ?? 0 }
    }
    @exclusivity(unchecked) var slowJobThresholdNanoseconds: UInt64 = 0

    /// Receives the duration of each job that exceeded `slowJobThreshold`, on the hub thread.
    /// The default logs it at `warning` level through `Hub.logger`.
    public var slowJobHandler: @Sendable (Duration) -> Void = { duration in
        Hub.logger.warning("a green thread held the hub for \(duration) without waiting")
    }

    // MARK: Fixed resources

    /// The readiness mechanism: epoll and its wake-up (see `Poller.swift`).
    let poller: Poller

    // MARK: Cross-thread state

    struct Inbox {
        var jobs: [UnownedJob] = []
        var messages: [InboxMessage] = []
        var signalled = false
    }

    enum InboxMessage {
        case cancelGreenThread(GreenThread)
        case cancelWaiter(Waiter)
        case deregister(FDRegistration, closeDescriptor: Bool)
        /// Runs on the hub thread (`offload` resumes its task this way).
        case call(@Sendable () -> Void)
        case stop
    }

    let inbox = Mutex(Inbox())
    let inboxNonEmpty = Atomic<Bool>(false)
    /// The thread the loop runs on, once it has started.
    let loopThread = Mutex<pthread_t?>(nil)
    /// Set when a hub started by `startThread` has left its loop for good.
    let finished = Atomic<Bool>(false)
    /// True while `runLoop` runs.
    let loopRunning = Atomic<Bool>(false)

    /// True once a hub started with `startThread(name:)` has stopped and its thread has ended
    /// its loop.
    public var hasFinished: Bool { finished.load(ordering: .acquiring) }

    // MARK: Virtual time (GreenIOTesting)

    /// With virtual time, the clock's nanoseconds: `cgreenio_monotonic_ns` — so `Deadline`, every
    /// timeout and every timer — reads it on this hub's thread while the loop runs. Nil (the
    /// default) for the system's monotonic clock.
    let virtualClock: UnsafeMutablePointer<UInt64>?
    /// With virtual time: the real milliseconds the loop waits for a descriptor to turn ready when
    /// no green thread can run and a timer is pending, before the clock jumps to that timer. Nil:
    /// the clock never jumps, only `advanceVirtualTime(to:)` moves it.
    let autojumpMilliseconds: Int32?
    /// Work handed to the blocking pool (`offload`) and not back yet: the clock does not jump
    /// meanwhile, since its result may be what a green thread waits for.
    @exclusivity(unchecked) var offloadsInFlight = 0

    /// Creates a hub. It runs nothing until its loop is started by `run(_:)`, `startThread(name:)`
    /// or `runLoop(until:)`.
    ///
    /// - Throws: `IOError` if the epoll instance or the wake-up eventfd cannot be created.
    public convenience init() throws {
        try self.init(virtualClock: nil, autojumpMilliseconds: nil)
    }

    /// Creates a hub whose time is virtual (the hook GreenIOTesting's `VirtualTime` builds on): it
    /// starts at `start` nanoseconds and moves only when `advanceVirtualTime(to:)` moves it or, with
    /// an `autojumpThreshold`, when no green thread can run and no descriptor turns ready within
    /// that much real time — then it jumps to the first pending timer.
    /// - Throws: as `init()`.
    package convenience init(virtualTimeStartingAt start: UInt64, autojumpThreshold: Duration?) throws {
        let clock = UnsafeMutablePointer<UInt64>.allocate(capacity: 1)
        clock.initialize(to: start)
        let milliseconds = autojumpThreshold.map { Int32(clamping: (max($0.nanosecondsRoundedUp, 0) + 999_999) / 1_000_000) }
        do {
            try self.init(virtualClock: clock, autojumpMilliseconds: milliseconds)
        } catch {
            clock.deallocate()
            throw error
        }
    }

    private init(virtualClock: UnsafeMutablePointer<UInt64>?, autojumpMilliseconds: Int32?) throws {
        self.virtualClock = virtualClock
        self.autojumpMilliseconds = autojumpMilliseconds
        poller = try Poller()
    }

    deinit {
        virtualClock?.deallocate()
    }

    /// The virtual clock's nanoseconds, or nil for a hub on the system's clock. Read it on the hub
    /// thread (or while the loop is not running).
    package var virtualNow: UInt64? { virtualClock?.pointee }

    /// Moves the virtual clock forward to `nanoseconds` (never back); timers due by then fire on the
    /// loop's next turn. Hub thread only, or while the loop is not running; no-op on the system
    /// clock.
    package func advanceVirtualTime(to nanoseconds: UInt64) {
        guard let virtualClock, nanoseconds > virtualClock.pointee else { return }
        virtualClock.pointee = nanoseconds
    }

    /// The hub whose loop runs on the calling thread, or nil.
    public static var current: Hub? {
        guard let pointer = cgreenio_current_hub() else { return nil }
        return Unmanaged<Hub>.fromOpaque(pointer).takeUnretainedValue()
    }

    /// True when called on this hub's loop thread.
    @inline(__always) var isOnHubThread: Bool {
        cgreenio_current_hub() == Unmanaged.passUnretained(self).toOpaque()
    }

    /// The current hub, or an `IOError` of kind `.notOnHub`.
    package static func requireCurrent() throws -> Hub {
        guard let hub = current else {
            throw IOError(.notOnHub, "this operation must run in a green thread of a GreenIO hub (see Hub.spawn)")
        }
        return hub
    }

    // MARK: TaskExecutor

    /// Runs `job` on the hub thread (the `TaskExecutor` requirement): green threads and their child
    /// tasks are scheduled through it by the Swift runtime, so application code does not call it.
    /// From another thread the job goes through the hub's inbox and wakes the loop.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        if isOnHubThread {
            ready.append(job)
        } else {
            post { $0.jobs.append(job) }
        }
    }

    /// `inbox.withLock`, with the lock's ordering told to ThreadSanitizer (see `withLockTraced`):
    /// otherwise every job and message that crosses threads through the inbox is reported as a
    /// race. Cross-thread path only.
    @inline(__always) func withInbox<Result>(_ body: (inout Inbox) -> Result) -> Result {
        inbox.withLockTraced(by: self) { box in body(&box) }
    }

    /// Adds work to the inbox from any thread and wakes the loop if needed.
    func post(_ update: (inout Inbox) -> Void) {
        let mustSignal = withInbox { box -> Bool in
            update(&box)
            inboxNonEmpty.store(true, ordering: .releasing)
            if box.signalled { return false }
            box.signalled = true
            return true
        }
        if mustSignal { poller.wake() }
    }

    func post(_ message: InboxMessage) {
        post { $0.messages.append(message) }
    }

    // MARK: Statistics

    /// Counts of what the hub holds, for tests and diagnostics. Read it on the hub thread.
    public struct Statistics: Sendable, Equatable {
        /// Waiters parked on file descriptors.
        public var fileDescriptorWaiters: Int
        /// Entries in the timer heap (deadlines of parked waiters, sleeps, scheduled callbacks).
        public var pendingTimers: Int
        /// Live green threads spawned by this hub.
        public var greenThreads: Int
        /// File descriptors registered with the epoll instance.
        public var registeredDescriptors: Int
    }

    /// Debug-build bookkeeping of the wait machinery (`debugWaitCounts`), for tests.
    struct WaitCounts: Sendable, Equatable {
        /// Waits installed (each must be resumed exactly once).
        var parked = 0
        /// Waits resumed (their continuation resumed).
        var resumed = 0
        /// `resume` calls that found the waiter already resumed and did nothing.
        var alreadyResumed = 0
    }

    /// The hub's current counts. Must be read on the hub thread.
    public var statistics: Statistics {
        Statistics(
            fileDescriptorWaiters: waiterCount,
            pendingTimers: timers.count,
            greenThreads: greenThreads.count,
            registeredDescriptors: registrations.reduce(0) { $0 + ($1 == nil ? 0 : 1) })
    }
}
