import Glibc
import Synchronization
import Testing
@testable import GreenIO

/// The hub's poller on its own: registration and tags, readiness, hang-ups, wake-ups.
@Suite("Poller", .timeLimit(.minutes(1)))
struct PollerTests {
    /// Waits up to `milliseconds` and returns the events the poller reported, with its count.
    private func events(_ poller: Poller, milliseconds: Int32 = 1_000) -> (count: Int32, events: [(UInt64, Poller.Readiness)]) {
        var seen: [(UInt64, Poller.Readiness)] = []
        let count = poller.wait(timeoutMilliseconds: milliseconds) { tag, readiness in seen.append((tag, readiness)) }
        return (count, seen)
    }

    @Test("a registered socket reports its tag: writable at once, readable once the peer writes")
    func readableWithTag() throws {
        let poller = try Poller()
        let (a, b) = hubRawSocketPair()
        defer { close(a); close(b) }
        let tag: UInt64 = 0x1234_5678_0000_0000 | UInt64(a)
        try poller.register(a, tag: tag).orThrow()

        // A fresh socket has room to write: one edge, writable only.
        let first = events(poller)
        #expect(first.count == 1)
        #expect(first.events.map(\.0) == [tag])
        let writable = try #require(first.events.first?.1)
        #expect(writable.isWritable && !writable.isReadable && !writable.isEndOrError)
        // Edge-triggered: nothing new, nothing reported.
        #expect(events(poller, milliseconds: 0).count == 0)

        hubWrite(b, "x")
        let second = events(poller)
        #expect(second.events.map(\.0) == [tag])
        #expect(second.events.first?.1.isReadable == true)
        #expect(second.events.first?.1.isEndOrError == false)
    }

    @Test("the peer's close is end-or-error, and wakes both directions")
    func hangUp() throws {
        let poller = try Poller()
        let (a, b) = hubRawSocketPair()
        defer { close(a) }
        try poller.register(a, tag: 7).orThrow()
        _ = events(poller)  // the first writable edge
        close(b)
        let reported = events(poller)
        #expect(reported.events.map(\.0) == [7])
        let readiness = try #require(reported.events.first?.1)
        #expect(readiness.isEndOrError)
        #expect(readiness.isReadable)
        #expect(readiness.isWritable)
    }

    @Test("modify re-tags a registered descriptor and fails for one not registered; deregister stops its events")
    func modifyAndDeregister() throws {
        let poller = try Poller()
        let (a, b) = hubRawSocketPair()
        defer { close(a); close(b) }
        if case .success = poller.modify(a, tag: 1) { Issue.record("modify before register succeeded") }
        try poller.register(a, tag: 1).orThrow()
        // Registering the number again re-points it (epoll's EEXIST is taken care of).
        try poller.register(a, tag: 2).orThrow()
        try poller.modify(a, tag: 3).orThrow()
        #expect(events(poller).events.map(\.0) == [3])
        poller.deregister(a)
        hubWrite(b, "x")
        #expect(events(poller, milliseconds: 50).count == 0)
        if case .success = poller.modify(a, tag: 4) { Issue.record("modify after deregister succeeded") }
    }

    @Test("wake from another thread ends a wait without an event for the hub; one sent before the wait ends it at once")
    func wake() throws {
        let poller = try Poller()
        poller.wake()
        let early = events(poller, milliseconds: 10_000)
        #expect(early.count == 1)
        #expect(early.events.isEmpty)
        // The wake-up was consumed: the next wait waits.
        #expect(events(poller, milliseconds: 0).count == 0)

        // The waiting thread and the waking one are threads of their own, so that a busy
        // concurrency pool cannot delay either.
        let outcome = Mutex<(count: Int32, events: Int, seconds: Double)?>(nil)
        let waiter = try TestThread {
            let start = Deadline.now.nanoseconds
            let woken = self.events(poller, milliseconds: 10_000)
            outcome.withLock { $0 = (woken.count, woken.events.count, hubSeconds(since: start)) }
        }
        let waker = try TestThread {
            usleep(50_000)
            poller.wake()
        }
        waker.join()
        waiter.join()
        let woken = try #require(outcome.withLock { $0 })
        #expect(woken.count == 1)
        #expect(woken.events == 0)
        #expect(woken.seconds < 5)
    }
}
