// The poller
// ==========
//
// The hub talks to the operating system's readiness mechanism only through its poller: it
// registers each descriptor once (edge-triggered, both directions, the peer's hang-up included)
// with a 64-bit tag of its choosing, re-points or drops that registration, waits with a timeout
// and is handed each ready descriptor's tag with what became ready, and any thread can wake a
// wait. `ReadinessPoller` states that contract; each mechanism lives in a file of its own
// (`EpollPoller.swift`: epoll and an eventfd, Linux), and `Poller` names the one this system
// builds with.
//
// The hub holds a `Poller`, a concrete final class, never an existential or a generic parameter:
// its per-event loop is the hottest code in the package, and with the concrete type the wait, the
// per-event callback and the readiness tests are inlined into the hub's loop. The protocol only
// makes the compiler check that a mechanism provides what the hub needs.

#if os(Linux)
/// The readiness mechanism this system builds with: epoll.
typealias Poller = EpollPoller
#else
#error("GreenIO supports Linux only: the hub waits with epoll and eventfd (Hub/EpollPoller.swift); another system needs a poller of its own beside it")
#endif

/// What the hub needs from a readiness mechanism (see the notes at the top of this file).
/// Registration, re-registration, removal and waiting happen on the hub's thread; `wake()` from any
/// thread.
protocol ReadinessPoller: AnyObject, Sendable {
    /// What became ready on one descriptor.
    associatedtype Readiness: PollerReadiness

    /// Registers `fd` edge-triggered for both directions and the peer's hang-up, with `tag`, which
    /// `wait` hands back for each of its events. Taking over a number the mechanism still holds for
    /// an earlier descriptor (closed behind the hub's back while a duplicate kept it alive) is part
    /// of registering. `UInt64.max` is the poller's own tag (its wake-up) and is never used here.
    func register(_ fd: Int32, tag: UInt64) -> Result<Void, Errno>

    /// Re-registers `fd`, which must be registered already, with `tag`; a failure says the
    /// mechanism no longer holds the number (the descriptor was closed behind the hub's back).
    func modify(_ fd: Int32, tag: UInt64) -> Result<Void, Errno>

    /// Removes `fd`'s registration; failures are ignored (a descriptor already closed has left).
    func deregister(_ fd: Int32)

    /// Waits until a registered descriptor turns ready, `wake()` is called, or `timeoutMilliseconds`
    /// passes (0: do not wait; -1: no limit), then calls `body` with each ready descriptor's tag and
    /// readiness, in the order the kernel reported them. Wake-ups are consumed here, not reported.
    /// - Returns: the number of events the kernel reported, a wake-up included (0 when the time
    ///   ran out with none); -1 when the wait was interrupted by a signal or failed.
    func wait(timeoutMilliseconds: Int32, _ body: (_ tag: UInt64, _ readiness: Readiness) -> Void) -> Int32

    /// Ends the current or next `wait` early. Callable from any thread.
    func wake()
}

/// What became ready on one descriptor. The three answers may overlap: the peer's end of stream, a
/// hang-up or an error counts as readable and writable too, so that waiters in both directions wake
/// and see it.
protocol PollerReadiness {
    /// Something to read, or the end of the stream, or an error: a read will not block.
    var isReadable: Bool { get }
    /// Room to write, or a hang-up or error: a write will not block.
    var isWritable: Bool { get }
    /// The peer's end of stream, a hang-up or an error: the descriptor stays readable with no
    /// further edge to come.
    var isEndOrError: Bool { get }
}
