import CGreenIO

/// Something that holds memory for its work while it waits — a TLS connection's record buffers —
/// and gives it back only once a wait has lasted a while (`Hub.idleReleaseDelayNanoseconds`).
///
/// A busy connection waits many times a second for a few microseconds each; freeing and
/// re-allocating its buffers on every wait costs more than its reads. A connection that goes quiet
/// gives them back a moment later, so idle connections still hold none.
protocol IdleReleasable: AnyObject {
    /// When the current wait began (the hub's clock), or nil while not waiting. Hub thread only.
    var idleSince: UInt64? { get }
    /// Set by the hub while the object is in its release queue (at most one entry per object).
    var idleReleaseQueued: Bool { get set }
    /// Gives back the memory held for work; called on the hub thread once the current wait has
    /// lasted the delay.
    func releaseIdleMemory()
}

/// The hub's queue of objects to release when idle: in order of their due times, at most one entry
/// per object (a busy object is re-queued at most once per delay).
struct IdleReleaseQueue {
    private var entries: [(owner: any IdleReleasable, due: UInt64)] = []
    private var head = 0

    var isEmpty: Bool { head == entries.count }
    var firstDue: UInt64? { isEmpty ? nil : entries[head].due }

    mutating func append(_ owner: any IdleReleasable, due: UInt64) {
        owner.idleReleaseQueued = true
        entries.append((owner, due))
    }

    /// Takes the first entry if it is due at `now`.
    mutating func popDue(now: UInt64) -> (any IdleReleasable)? {
        guard head < entries.count, entries[head].due <= now else { return nil }
        let owner = entries[head].owner
        head += 1
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64 && head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
        owner.idleReleaseQueued = false
        return owner
    }

    /// Drops every entry (the hub has stopped for good).
    mutating func removeAll() {
        for index in head..<entries.count { entries[index].owner.idleReleaseQueued = false }
        entries = []
        head = 0
    }
}

extension Hub {
    /// How long a wait lasts before the waiting object's memory is released: 20 ms.
    static let idleReleaseDelayNanoseconds: UInt64 = 20_000_000

    /// Notes that `owner` has begun a wait at `owner.idleSince`: once the wait has lasted
    /// `idleReleaseDelayNanoseconds`, the hub calls `releaseIdleMemory()`. Hub thread only.
    func releaseWhenIdle(_ owner: any IdleReleasable) {
        guard !owner.idleReleaseQueued, let since = owner.idleSince else { return }
        idleReleases.append(owner, due: since &+ Hub.idleReleaseDelayNanoseconds)
    }

    /// Releases the memory of every queued object whose wait has lasted the delay; one still busy
    /// (or in a later, shorter wait) is queued again for the end of its current wait's delay.
    func runIdleReleases() {
        guard let due = idleReleases.firstDue else { return }
        let now = cgreenio_monotonic_ns()
        if due > now { return }
        while let owner = idleReleases.popDue(now: now) {
            guard let since = owner.idleSince else { continue }  // working: its next wait queues it
            if now &- since >= Hub.idleReleaseDelayNanoseconds {
                owner.releaseIdleMemory()
            } else {
                idleReleases.append(owner, due: since &+ Hub.idleReleaseDelayNanoseconds)
            }
        }
    }
}
