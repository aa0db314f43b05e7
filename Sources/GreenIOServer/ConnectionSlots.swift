import Synchronization

/// The connections being served, over all hubs, and the `maxConnections` gate.
///
/// An accept loop takes a slot before each accept; at the limit it parks on its hub's
/// `slotFreed` event, and a connection that ends while any loop waits signals every hub's event
/// (so whichever hub's loop wins the freed slot accepts). Nothing is accepted without a slot: a
/// client beyond the limit waits in the listen backlog.
final class ConnectionSlots: Sendable {
    /// The limit; nil for none.
    let limit: Int?
    /// Slots taken: connections served, and accept loops holding one for their next accept.
    private let active = Atomic<Int>(0)
    /// Connections being served.
    private let serving = Atomic<Int>(0)
    private let waiting = Atomic<Int>(0)
    private let events: Mutex<[WakeEvent]> = Mutex([])

    init(limit: Int?) { self.limit = limit }

    /// Connections being served now.
    var count: Int { serving.load(ordering: .relaxed) }

    /// Marks the slot just taken as a connection being served (`release()` ends it).
    func connectionStarted() {
        serving.add(1, ordering: .relaxed)
    }

    /// Ends a connection that `connectionStarted()` counted and gives its slot back.
    func connectionEnded() {
        serving.subtract(1, ordering: .relaxed)
        release()
    }

    /// Adds the event an accept loop waits on for a slot.
    func register(_ event: WakeEvent) {
        events.withLock { $0.append(event) }
    }

    /// Takes a slot if one is free.
    func tryAcquire() -> Bool {
        guard let limit else {
            active.add(1, ordering: .relaxed)
            return true
        }
        var current = active.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = active.compareExchange(expected: current, desired: current + 1,
                                                               ordering: .acquiringAndReleasing)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Takes a slot, parking the calling green thread on `event` while none is free.
    /// - Throws: `CancellationError` (the server is stopping).
    func acquire(waitingOn event: WakeEvent) async throws {
        while !tryAcquire() {
            waiting.add(1, ordering: .sequentiallyConsistent)
            // Checked again after announcing the wait: a slot freed in between signals the event.
            if tryAcquire() {
                waiting.subtract(1, ordering: .sequentiallyConsistent)
                return
            }
            defer { waiting.subtract(1, ordering: .sequentiallyConsistent) }
            try await event.wait()
        }
    }

    /// Gives a slot back and wakes the accept loops waiting for one.
    func release() {
        active.subtract(1, ordering: .sequentiallyConsistent)
        if waiting.load(ordering: .sequentiallyConsistent) > 0 {
            for event in events.withLock({ $0 }) { event.signal() }
        }
    }
}
