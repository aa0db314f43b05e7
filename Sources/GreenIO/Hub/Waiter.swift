/// One parked green thread, sleeper or timer callback, owned by its hub's thread.
///
/// A waiter is in at most one wait slot of one registration and at most once in the timer heap;
/// `Hub.resume` takes it out of both before resuming, so a waiter is resumed exactly once.
final class Waiter: @unchecked Sendable {
    enum Kind {
        /// A green thread waiting for a file descriptor; the timer means "timed out".
        case io
        /// A green thread sleeping; the timer means "done".
        case sleep
        /// A callback to run on the hub thread when the timer fires.
        case callback
    }

    @exclusivity(unchecked) var kind: Kind
    @exclusivity(unchecked) var continuation: UnsafeContinuation<Void, any Error>?
    @exclusivity(unchecked) var callback: (() throws -> Void)?
    /// The registration and slot this waiter occupies (`.io` only).
    @exclusivity(unchecked) var registration: FDRegistration?
    @exclusivity(unchecked) var interest: Interest = .read
    @exclusivity(unchecked) var slot: WaitSlot = .primary
    /// The green thread this wait belongs to, if it was spawned by a hub.
    @exclusivity(unchecked) var greenThread: GreenThread?
    /// Position in the timer heap, or -1.
    @exclusivity(unchecked) var heapIndex = -1
    @exclusivity(unchecked) var deadline: UInt64 = .max
    /// Insertion order, so timers with equal deadlines fire in the order they were set.
    @exclusivity(unchecked) var sequence: UInt64 = 0

    init(kind: Kind) { self.kind = kind }

}

/// What a hub knows about one file descriptor registered with its epoll instance.
///
/// The generation distinguishes this registration from earlier ones for the same fd number, so
/// an event queued for a closed fd never resumes a waiter of a new one (eventlet #94).
///
/// Plumbing for socket types of your own that wait on a descriptor: ``Hub/register(_:)`` and
/// ``Hub/registration(for:)`` make one, ``Hub/deregister(_:closeDescriptor:)`` removes it, as
/// ``Socket`` does; application code does not need it.
public final class FDRegistration: @unchecked Sendable {
    /// The registered file descriptor.
    public let fileDescriptor: Int32
    let generation: UInt32
    /// The hub this descriptor is registered with (strong: a socket may outlive the loop that ran it).
    let hub: Hub
    @exclusivity(unchecked) var readers: (primary: Waiter?, secondary: Waiter?) = (nil, nil)
    @exclusivity(unchecked) var writers: (primary: Waiter?, secondary: Waiter?) = (nil, nil)
    /// Readiness seen while nobody waited; consumed by the next wait in that direction.
    @exclusivity(unchecked) var readReady = false
    @exclusivity(unchecked) var writeReady = false
    /// Sticky: an event reported the peer's end of stream, a hang-up or an error. Such a condition
    /// stays readable without further edges, so a reader must not count on a new event for it.
    @exclusivity(unchecked) var sawEndOrError = false
    /// Set once the hub has deregistered the descriptor; waits then fail with `.closed`.
    @exclusivity(unchecked) var isClosed = false
    /// Set once the hub closed the descriptor for this registration, or a newer registration took
    /// its number over; the hub never closes the number on this registration's behalf after that.
    @exclusivity(unchecked) var descriptorReleased = false
    /// Which slot was resumed first last time both were taken (they take turns).
    @exclusivity(unchecked) var secondaryFirst = false
    /// Run on the hub thread each time the descriptor is seen writable, before any writer is
    /// resumed, while it returns true: set by a socket that holds output of its own for the kernel
    /// (a TLS socket's ciphertext), which then goes out without any green thread waiting for it.
    /// Dropped when it returns false and when the registration closes.
    @exclusivity(unchecked) var writableHandler: (() -> Bool)?

    init(fileDescriptor: Int32, generation: UInt32, hub: Hub) {
        self.fileDescriptor = fileDescriptor
        self.generation = generation
        self.hub = hub
    }

    var waiterCount: Int {
        (readers.primary == nil ? 0 : 1) + (readers.secondary == nil ? 0 : 1)
            + (writers.primary == nil ? 0 : 1) + (writers.secondary == nil ? 0 : 1)
    }
}
