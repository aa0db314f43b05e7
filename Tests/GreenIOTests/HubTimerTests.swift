import Glibc
import Testing
@testable import GreenIO

/// Timers, sleeps and the bookkeeping behind deadlines (EVT-23 … EVT-27).
@Suite("Hub timers", .timeLimit(.minutes(1)), .serialized)
struct HubTimerTests {
    @Test("EVT-23 a timed-out wait leaves no waiter and no timer behind")
    func timedOutWaitCleansUp() async throws {
        let (result, before, during, after) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let before = hub.statistics
            let waiter = hub.spawn { try await hub.wait(for: .read, on: a, deadline: .after(.milliseconds(300))) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            let during = hub.statistics
            let result = await waiter.result
            return (result, before, during, hub.statistics)
        }
        #expect(hubIOErrorKind(result) == .timedOut)
        #expect(during.fileDescriptorWaiters == before.fileDescriptorWaiters + 1)
        #expect(during.pendingTimers == before.pendingTimers + 1)
        #expect(after.fileDescriptorWaiters == before.fileDescriptorWaiters)
        #expect(after.pendingTimers == before.pendingTimers)
    }

    @Test("EVT-23 a socket recv that times out leaves no waiter and no timer behind")
    func socketTimeoutCleansUp() async throws {
        let (result, stats) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.001)
            let result = await hubOutcome { try await a.recv(10) }
            return (result, hub.statistics)
        }
        let error = try #require(hubError(result) as? IOError)
        #expect(error.kind == .timedOut)
        #expect(error.message == "timed out")
        #expect(stats.fileDescriptorWaiters == 0)
        #expect(stats.pendingTimers == 0)
    }

    @Test("EVT-24 2000 scheduled-and-cancelled 60 s timers keep the pending count bounded")
    func cancelledTimersDoNotPileUp() async throws {
        let (maxExtra, afterLoop, afterBatch, fired, lateFired) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let baseline = hub.statistics.pendingTimers
            let fired = HubTestBox(0)
            var maxExtra = 0
            for _ in 0..<2000 {
                let callback = try hub.schedule(at: .after(.seconds(60))) { fired.value += 1 }
                maxExtra = max(maxExtra, hub.statistics.pendingTimers - baseline)
                callback.cancel()
            }
            let afterLoop = hub.statistics.pendingTimers - baseline
            // A batch scheduled at once and cancelled at once, with an early deadline: none may run.
            let soon = Deadline.after(.milliseconds(20))
            let batch = try (0..<2000).map { _ in try hub.schedule(at: soon) { fired.value += 1 } }
            for callback in batch { callback.cancel() }
            for callback in batch { callback.cancel() }  // cancelling twice is harmless
            let afterBatch = hub.statistics.pendingTimers - baseline
            try await Hub.sleep(for: .milliseconds(60))
            // A callback that already ran can be cancelled without effect.
            let ran = HubTestBox(0)
            let late = try hub.schedule(at: .now) { ran.value += 1 }
            try await Hub.sleep(for: .milliseconds(10))
            late.cancel()
            return (maxExtra, afterLoop, afterBatch, fired.value, ran.value)
        }
        #expect(maxExtra == 1)
        #expect(afterLoop == 0)
        #expect(afterBatch == 0)
        #expect(fired == 0)
        #expect(lateFired == 1)
    }

    @Test("EVT-24 a 60 s wait resumed by readiness removes its timer")
    func readinessRemovesTimer() async throws {
        let (result, during, after) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let waiter = hub.spawn { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(60))) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            let during = hub.statistics
            hubWrite(b, "x")
            let result = await waiter.result
            return (result, during, hub.statistics)
        }
        #expect(throws: Never.self) { try result.get() }
        #expect(during.pendingTimers == 1)
        #expect(after.pendingTimers == 0)
        #expect(after.fileDescriptorWaiters == 0)
    }

    @Test("EVT-25 a secondary waiter timing out doesn't disturb the primary")
    func secondaryTimeoutLeavesPrimary() async throws {
        let (secondary, waitersAfterTimeout, primary, text) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let primary = hub.spawn { try await hub.wait(for: .read, on: a) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            let secondary = await hubOutcome {
                try await hub.wait(for: .read, on: a, deadline: .after(.milliseconds(50)), slot: .secondary)
            }
            let waitersAfterTimeout = hub.statistics.fileDescriptorWaiters
            try await Hub.sleep(for: .milliseconds(20))
            hubWrite(b, "1")
            let primaryResult = await primary.result
            return (secondary, waitersAfterTimeout, primaryResult, hubRead(a))
        }
        #expect(hubIOErrorKind(secondary) == .timedOut)
        #expect(waitersAfterTimeout == 1)
        #expect(throws: Never.self) { try primary.get() }
        #expect(text == "1")
    }

    @Test("EVT-26 timers fire in deadline order, ties in insertion order")
    func timerOrdering() async throws {
        let (order, early) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let order = HubTestBox<[String]>([])
            let early = HubTestBox(false)
            let d = Duration.milliseconds(50)
            let start = Deadline.now
            let one = start.advanced(by: d)
            let two = start.advanced(by: d * 2)
            for (name, deadline) in [("2d", two), ("d1", one), ("d2", one)] {
                try hub.schedule(at: deadline) {
                    if !deadline.hasPassed { early.value = true }
                    order.value.append(name)
                }
            }
            try await Hub.sleep(until: two.advanced(by: .milliseconds(30)))
            return (order.value, early.value)
        }
        #expect(order == ["d1", "d2", "2d"])
        #expect(!early)
    }

    @Test("EVT-26 callbacks with equal deadlines run in insertion order")
    func equalDeadlineCallbacks() async throws {
        let order = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let order = HubTestBox<[Int]>([])
            let deadline = Deadline.after(.milliseconds(30))
            for index in 0..<50 {
                try hub.schedule(at: deadline) { order.value.append(index) }
            }
            // Cancelling some in the middle must not disturb the order of the rest.
            let cancelled = try (0..<10).map { _ in try hub.schedule(at: deadline) { order.value.append(-1) } }
            for index in 50..<60 {
                try hub.schedule(at: deadline) { order.value.append(index) }
            }
            for callback in cancelled { callback.cancel() }
            try await Hub.sleep(until: deadline.advanced(by: .milliseconds(30)))
            return order.value
        }
        #expect(order == Array(0..<60))
    }

    @Test("EVT-26 green threads sleeping until the same deadline wake in the order they slept")
    func equalDeadlineSleepers() async throws {
        let order = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let order = HubTestBox<[Int]>([])
            let deadline = Deadline.after(.milliseconds(50))
            let later = deadline.advanced(by: .milliseconds(20))
            var tasks: [Task<Void, any Error>] = []
            // Interleave a later deadline so the heap has to reorder.
            for index in 0..<20 {
                let mine = index % 3 == 2 ? later : deadline
                tasks.append(hub.spawn {
                    try await Hub.sleep(until: mine)
                    order.value.append(index)
                })
            }
            for task in tasks { try await task.value }
            return order.value
        }
        let early = (0..<20).filter { $0 % 3 != 2 }
        let late = (0..<20).filter { $0 % 3 == 2 }
        #expect(order == early + late)
    }

    @Test("EVT-27 a callback that throws is reported, the hub keeps running, and a later sleep lasts")
    func throwingCallback() async throws {
        let (reported, laterRan, slept) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let reported = HubTestBox<[HubTestError]>([])
            hub.errorHandler = { error in reported.value.append(error as? HubTestError ?? HubTestError(code: -1)) }
            let laterRan = HubTestBox(false)
            try hub.schedule(at: .after(.milliseconds(10))) { throw HubTestError(code: 27) }
            try hub.schedule(at: .after(.milliseconds(20))) { laterRan.value = true }
            try await Hub.sleep(for: .milliseconds(60))
            let start = Deadline.now.nanoseconds
            try await Hub.sleep(for: .milliseconds(200))
            return (reported.value, laterRan.value, hubSeconds(since: start))
        }
        #expect(reported == [HubTestError(code: 27)])
        #expect(laterRan)
        #expect(slept >= 0.18)
        #expect(slept < 5)
    }

    @Test("EVT-24 a 60 s wait ended by cancellation or by close removes its timer")
    func otherEndingsRemoveTimer() async throws {
        let (cancelled, closed, during, after) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            let (c, d) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b); hub.hubTestClose(d) }
            let registration = try hub.registration(for: c)
            let first = hub.spawn { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(60))) }
            let second = hub.spawn { try await hub.wait(for: .read, on: registration, deadline: .after(.seconds(60))) }
            let sleeper = hub.spawn { try await Hub.sleep(until: .distantFuture) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 2 }
            try await Hub.yield()
            let during = hub.statistics
            first.cancel()
            hub.deregister(registration, closeDescriptor: true)
            Task.detached { sleeper.cancel() }
            let cancelled = await first.result
            let closed = await second.result
            _ = await sleeper.result
            return (cancelled, closed, during, hub.statistics)
        }
        #expect(hubIsCancellation(cancelled))
        #expect(hubIOErrorKind(closed) == .closed)
        #expect(during.pendingTimers == 2, "a sleep without a deadline takes no timer")
        #expect(after.pendingTimers == 0)
        #expect(after.fileDescriptorWaiters == 0)
    }

    @Test("the timer heap keeps (deadline, insertion) order under random insertions and removals")
    func timerHeapRandomised() {
        var random = SplitMix64(seed: 0x5EED)
        for round in 0..<30 {
            var heap = TimerHeap()
            var order: [ObjectIdentifier: Int] = [:]
            var live: [Waiter] = []
            var inserted = 0
            for _ in 0..<400 {
                if !live.isEmpty && random.next() % 3 == 0 {
                    let victim = live.remove(at: Int(random.next() % UInt64(live.count)))
                    heap.remove(victim)
                    #expect(victim.heapIndex == -1)
                    heap.remove(victim)  // removing twice is harmless
                } else {
                    let waiter = Waiter(kind: .sleep)
                    waiter.deadline = random.next() % UInt64(5 + round)  // many ties
                    order[ObjectIdentifier(waiter)] = inserted
                    inserted += 1
                    heap.insert(waiter)
                    live.append(waiter)
                }
            }
            #expect(heap.count == live.count)
            var popped: [Waiter] = []
            while let first = heap.first {
                heap.remove(first)
                popped.append(first)
            }
            let expected = live.sorted {
                ($0.deadline, order[ObjectIdentifier($0)]!) < ($1.deadline, order[ObjectIdentifier($1)]!)
            }
            #expect(popped.map(ObjectIdentifier.init) == expected.map(ObjectIdentifier.init), "round \(round)")
        }
    }

    @Test("EVT-26 callbacks at random deadlines, some cancelled, fire in (deadline, insertion) order")
    func randomCallbacksOrder() async throws {
        let (fired, expected) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            var random = SplitMix64(seed: 26)
            let fired = HubTestBox<[Int]>([])
            let base = Deadline.after(.milliseconds(20))
            var scheduled: [(deadline: Deadline, index: Int, callback: Hub.ScheduledCallback)] = []
            for index in 0..<300 {
                let deadline = base.advanced(by: .milliseconds(Int(random.next() % 20) * 2))
                scheduled.append((deadline, index, try hub.schedule(at: deadline) { fired.value.append(index) }))
            }
            var kept: [(deadline: Deadline, index: Int)] = []
            for entry in scheduled {
                if random.next() % 3 == 0 {
                    entry.callback.cancel()
                } else {
                    kept.append((entry.deadline, entry.index))
                }
            }
            try await Hub.sleep(until: base.advanced(by: .milliseconds(80)))
            let expected = kept.sorted { ($0.deadline, $0.index) < ($1.deadline, $1.index) }.map(\.index)
            return (fired.value, expected)
        }
        #expect(fired == expected)
    }

    // MARK: Sleep

    @Test("sleep(for:) lasts at least its duration", arguments: [1, 10, 100, 300])
    func sleepLasts(milliseconds: Int) async throws {
        let elapsed = try await onHub(limit: .seconds(20)) {
            let start = Deadline.now.nanoseconds
            try await Hub.sleep(for: .milliseconds(milliseconds))
            return hubSeconds(since: start)
        }
        #expect(elapsed >= Double(milliseconds) / 1000)
        #expect(elapsed < Double(milliseconds) / 1000 + 5)
    }

    @Test("sleep(until:) a past deadline and yield() let other green threads run, then continue")
    func yieldInterleaves() async throws {
        let log = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let log = HubTestBox<[String]>([])
            let a = hub.spawn {
                for _ in 0..<3 {
                    log.value.append("a")
                    try await Hub.yield()
                }
            }
            let b = hub.spawn {
                for _ in 0..<3 {
                    log.value.append("b")
                    try await Hub.sleep(until: Deadline(nanoseconds: 1))
                }
            }
            try await a.value
            try await b.value
            return log.value
        }
        #expect(log == ["a", "b", "a", "b", "a", "b"])
    }

    @Test("epoll timeouts round up: a 0.3 ms sleep completes, 200 × 0.2 ms sleeps do not spin")
    func subMillisecondSleeps() async throws {
        let (single, total, cpu) = try await onHub(limit: .seconds(30)) {
            let start = Deadline.now.nanoseconds
            try await Hub.sleep(for: .microseconds(300))
            let single = hubSeconds(since: start)
            let loopStart = Deadline.now.nanoseconds
            let cpuStart = hubThreadCPUSeconds()
            for _ in 0..<200 {
                try await Hub.sleep(for: .microseconds(200))
            }
            return (single, hubSeconds(since: loopStart), hubThreadCPUSeconds() - cpuStart)
        }
        #expect(single >= 0.0003)
        #expect(single < 5)
        #expect(total >= 0.04)
        #expect(total < 30)
        // Rounding the poll timeout down would busy-loop for each sub-millisecond rest, burning
        // the whole interval on the hub thread; rounded up, the thread mostly sleeps in epoll_wait.
        #expect(cpu < total / 4, "hub thread used \(cpu) s of CPU in \(total) s")
    }
}

