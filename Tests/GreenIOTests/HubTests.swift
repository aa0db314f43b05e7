import Glibc
import Testing
@testable import GreenIO

/// Waiting on descriptors: readiness, timeouts, cancellation, close, second waiters.
@Suite("Hub waits", .timeLimit(.minutes(1)), .serialized)
struct HubWaitTests {
    @Test("wait returns when the descriptor becomes readable")
    func readyWakes() async throws {
        let (elapsed, text, waiters) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            hub.spawn {
                try await Hub.sleep(for: .milliseconds(50))
                hubWrite(b, "x")
            }
            let start = Deadline.now.nanoseconds
            try await hub.wait(for: .read, on: a, deadline: .after(.seconds(10)))
            let elapsed = hubSeconds(since: start)
            return (elapsed, hubRead(a), hub.statistics.fileDescriptorWaiters)
        }
        #expect(elapsed >= 0.045)
        #expect(elapsed < 5)
        #expect(text == "x")
        #expect(waiters == 0)
    }

    @Test("wait for write returns at once on a writable descriptor")
    func writableWakes() async throws {
        let elapsed = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let start = Deadline.now.nanoseconds
            try await hub.wait(for: .write, on: a, deadline: .after(.seconds(10)))
            return hubSeconds(since: start)
        }
        #expect(elapsed < 5)
    }

    @Test("wait times out with \"timed out\" after roughly its deadline")
    func waitTimesOut() async throws {
        let (result, elapsed) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let start = Deadline.now.nanoseconds
            let result = await hubOutcome { try await hub.wait(for: .read, on: a, deadline: .after(.milliseconds(200))) }
            return (result, hubSeconds(since: start))
        }
        let error = try #require(hubError(result) as? IOError)
        #expect(error.kind == .timedOut)
        #expect(error.message == "timed out")
        #expect(elapsed >= 0.18)
        #expect(elapsed < 5)
    }

    @Test("a deadline already passed times out at once")
    func pastDeadline() async throws {
        let (result, elapsed) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let start = Deadline.now.nanoseconds
            let result = await hubOutcome { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(-1))) }
            return (result, hubSeconds(since: start))
        }
        #expect(hubIOErrorKind(result) == .timedOut)
        #expect(elapsed < 5)
    }

    // MARK: Cancellation

    @Test("cancelling a parked green thread from another green thread wakes it")
    func cancelFromSameHubThread() async throws {
        let (result, elapsed, waiters) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let start = Deadline.now.nanoseconds
            let parked = hub.spawn { try await hub.wait(for: .read, on: a) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            parked.cancel()
            let result = await parked.result
            return (result, hubSeconds(since: start), hub.statistics.fileDescriptorWaiters)
        }
        #expect(hubIsCancellation(result))
        #expect(elapsed < 5)
        #expect(waiters == 0)
    }

    @Test("cancelling a parked green thread from another OS thread wakes it")
    func cancelFromForeignThread() async throws {
        let (result, cancellerOffHub, waiters) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let parked = hub.spawn { try await hub.wait(for: .read, on: a) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            // A plain task on the global executor cancels it.
            let canceller = Task.detached { () -> Bool in
                parked.cancel()
                return Hub.current == nil
            }
            let result = await parked.result
            return (result, await canceller.value, hub.statistics.fileDescriptorWaiters)
        }
        #expect(hubIsCancellation(result))
        #expect(cancellerOffHub)
        #expect(waiters == 0)
    }

    @Test("cancelling a sleeping green thread wakes it")
    func cancelSleeper() async throws {
        let (result, elapsed, timers) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let start = Deadline.now.nanoseconds
            let sleeper = hub.spawn { try await Hub.sleep(for: .seconds(60)) }
            try await hubUntil { hub.statistics.pendingTimers == 1 }
            Task.detached { sleeper.cancel() }
            let result = await sleeper.result
            return (result, hubSeconds(since: start), hub.statistics.pendingTimers)
        }
        #expect(hubIsCancellation(result))
        #expect(elapsed < 5)
        #expect(timers == 0)
    }

    @Test("an already-cancelled green thread's wait and sleep throw at once")
    func alreadyCancelled() async throws {
        let (waitResult, sleepResult, elapsed, stats) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let start = Deadline.now.nanoseconds
            let task = hub.spawn { () -> (Result<Void, any Error>, Result<Void, any Error>) in
                withUnsafeCurrentTask { $0!.cancel() }
                let waited = await hubOutcome { try await hub.wait(for: .read, on: a) }
                let slept = await hubOutcome { try await Hub.sleep(for: .seconds(60)) }
                return (waited, slept)
            }
            let (waited, slept) = try await task.value
            return (waited, slept, hubSeconds(since: start), hub.statistics)
        }
        #expect(hubIsCancellation(waitResult))
        #expect(hubIsCancellation(sleepResult))
        #expect(elapsed < 5)
        #expect(stats.fileDescriptorWaiters == 0)
        #expect(stats.pendingTimers == 0)
    }

    @Test("a task-group child parked in a wait is woken when its green thread is cancelled from another thread")
    func childTaskCancelledFromForeignThread() async throws {
        let (result, childOnHub, waiters) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let childOnHub = HubTestBox(false)
            let parent = hub.spawn {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        childOnHub.value = Hub.current === hub
                        try await hub.wait(for: .read, on: a)
                    }
                    try await group.next()
                }
            }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            Task.detached { parent.cancel() }
            let result = await parent.result
            return (result, childOnHub.value, hub.statistics.fileDescriptorWaiters)
        }
        #expect(hubIsCancellation(result))
        #expect(childOnHub)
        #expect(waiters == 0)
    }

    @Test("an async-let child parked in a wait is woken when its green thread is cancelled on the hub thread")
    func asyncLetChildCancelledOnHub() async throws {
        let (result, waiters) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let parent = hub.spawn {
                async let child: Void = hub.wait(for: .read, on: a)
                try await child
            }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            parent.cancel()
            let result = await parent.result
            return (result, hub.statistics.fileDescriptorWaiters)
        }
        #expect(hubIsCancellation(result))
        #expect(waiters == 0)
    }

    // MARK: Close wakes waiters (EVT-56)

    @Test("EVT-56 deregister with close from another green thread wakes the waiter with .closed")
    func closeFromGreenThread() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { Glibc.close(b) }
            let registration = try hub.registration(for: a)
            let closedAt = HubTestBox<UInt64>(0)
            hub.spawn {
                try await Hub.sleep(for: .milliseconds(100))
                closedAt.value = Deadline.now.nanoseconds
                hub.deregister(registration, closeDescriptor: true)
            }
            let start = Deadline.now.nanoseconds
            let result = await hubOutcome { try await hub.wait(for: .read, on: registration) }
            let woke = Deadline.now.nanoseconds
            return HubCloseOutcome(result: result, waited: Double(woke - start) / 1e9,
                                wakeDelay: Double(woke - closedAt.value) / 1e9,
                                peerSawEOF: hubPeerSeesEOF(b), waiters: hub.statistics.fileDescriptorWaiters,
                                registered: hub.statistics.registeredDescriptors)
        }
        outcome.check()
    }

    @Test("EVT-56 deregister with close from another OS thread wakes the waiter with .closed")
    func closeFromForeignThread() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { Glibc.close(b) }
            let registration = try hub.registration(for: a)
            let closer = Task.detached { () -> UInt64 in
                try await Task.sleep(for: .milliseconds(100))
                precondition(Hub.current == nil)
                let closedAt = Deadline.now.nanoseconds
                hub.deregister(registration, closeDescriptor: true)
                return closedAt
            }
            let start = Deadline.now.nanoseconds
            let result = await hubOutcome { try await hub.wait(for: .read, on: registration) }
            let woke = Deadline.now.nanoseconds
            let closedAt = try await closer.value
            return HubCloseOutcome(result: result, waited: Double(woke - start) / 1e9,
                                wakeDelay: Double(woke - closedAt) / 1e9,
                                peerSawEOF: hubPeerSeesEOF(b), waiters: hub.statistics.fileDescriptorWaiters,
                                registered: hub.statistics.registeredDescriptors)
        }
        outcome.check()
    }

    @Test("EVT-56 a socket closed by another green thread wakes its reader with .closed")
    func socketCloseWakesReader() async throws {
        let (result, waited) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = try Socket.pair()
            defer { b.close() }
            hub.spawn {
                try await Hub.sleep(for: .milliseconds(100))
                a.close()
            }
            let start = Deadline.now.nanoseconds
            let result = await hubOutcome { try await a.recv(10) }
            return (result, hubSeconds(since: start))
        }
        let error = try #require(hubError(result) as? IOError)
        #expect(error.kind == .closed)
        #expect(error.errno == .badFileDescriptor)
        #expect(waited >= 0.09)
        #expect(waited < 2)
    }

    // MARK: Second waiters (EVT-54, basis of EVT-50/55)

    @Test("EVT-54 a second reader is rejected at once with .busy; the first still gets its byte")
    func secondReaderRejected() async throws {
        let (second, elapsed, first) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = hub.spawn { try await a.recv(1) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            let start = Deadline.now.nanoseconds
            let second = await hubOutcome { try await a.recv(1) }
            let elapsed = hubSeconds(since: start)
            try await b.sendAll(bytes("z"))
            return (second, elapsed, await reader.result)
        }
        let error = try #require(hubError(second) as? IOError)
        #expect(error.kind == .busy)
        #expect(error.errno == Errno(rawValue: EBUSY))
        #expect(elapsed < 1)
        #expect(try first.get() == bytes("z"))
    }

    @Test("EVT-54 a second primary waiter in the same direction fails with .busy, other slots do not")
    func busyPerSlotAndDirection() async throws {
        let (busy, writeOK, secondary, thirdSecondary, firstWoke) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let first = hub.spawn { try await hub.wait(for: .read, on: a) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }
            let busy = await hubOutcome { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(5))) }
            // The write direction is independent (and the socket is writable).
            let writeOK = await hubOutcome { try await hub.wait(for: .write, on: a, deadline: .after(.seconds(5))) }
            let secondary = hub.spawn { try await hub.wait(for: .read, on: a, slot: .secondary) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 2 }
            let third = await hubOutcome {
                try await hub.wait(for: .read, on: a, deadline: .after(.seconds(5)), slot: .secondary)
            }
            hubWrite(b, "q")
            let firstResult = await first.result
            return (busy, writeOK, await secondary.result, third, firstResult)
        }
        #expect(hubIOErrorKind(busy) == .busy)
        #expect(throws: Never.self) { try writeOK.get() }
        #expect(hubIOErrorKind(thirdSecondary) == .busy)
        #expect(throws: Never.self) { try secondary.get() }
        #expect(throws: Never.self) { try firstWoke.get() }
    }

    @Test("a secondary-slot waiter is allowed alongside the primary and both wake on readiness")
    func secondarySlotBothWake() async throws {
        let (primary, secondary, waitersWhileParked, waitersAfter) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let primary = hub.spawn { try await hub.wait(for: .read, on: a) }
            let secondary = hub.spawn { try await hub.wait(for: .read, on: a, slot: .secondary) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 2 }
            let parked = hub.statistics.fileDescriptorWaiters
            hubWrite(b, "x")
            let p = await primary.result
            let s = await secondary.result
            return (p, s, parked, hub.statistics.fileDescriptorWaiters)
        }
        #expect(throws: Never.self) { try primary.get() }
        #expect(throws: Never.self) { try secondary.get() }
        #expect(waitersWhileParked == 2)
        #expect(waitersAfter == 0)
    }

    @Test("EVT-55 opt-in second reader: readers in the primary and secondary slots both receive some of 20 chunks")
    func twoReadersShareChunks() async throws {
        let counts = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            // Each reader tries the read first and waits only when it would block: the green-thread
            // contract. The peer sends 20 chunks, pausing between them so both readers get a turn.
            func reader(_ slot: WaitSlot) -> Task<Int, any Error> {
                hub.spawn {
                    var chunks = 0
                    while true {
                        if let text = hubRead(a) {
                            if text.isEmpty { return chunks }
                            chunks += 1
                            continue
                        }
                        try await hub.wait(for: .read, on: a, deadline: .after(.seconds(10)), slot: slot)
                    }
                }
            }
            let first = reader(.primary)
            let second = reader(.secondary)
            for index in 0..<20 {
                _ = hubWrite(b, "chunk \(index)")
                try await Hub.sleep(for: .milliseconds(5))
            }
            _ = Glibc.shutdown(b, Int32(SHUT_WR))
            return (try await first.value, try await second.value)
        }
        #expect(counts.0 > 0)
        #expect(counts.1 > 0)
        #expect(counts.0 + counts.1 == 20)
    }

    @Test("a writer parked on a full socket is woken when the peer shuts down its side (eventlet #539)")
    func peerShutdownWakesWriter() async throws {
        let (result, elapsed) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            hubFill(a)
            hub.spawn {
                try await Hub.sleep(for: .milliseconds(50))
                _ = Glibc.shutdown(b, Int32(SHUT_WR))
            }
            let start = Deadline.now.nanoseconds
            let result = await hubOutcome { try await hub.wait(for: .write, on: a, deadline: .after(.seconds(10))) }
            return (result, hubSeconds(since: start))
        }
        #expect(throws: Never.self) { try result.get() }
        #expect(elapsed >= 0.045)
        #expect(elapsed < 5)
    }

    @Test("a writer parked on a full socket is woken when the peer closes")
    func peerCloseWakesWriter() async throws {
        let (result, sendErrno) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a) }
            hubFill(a)
            hub.spawn {
                try await Hub.sleep(for: .milliseconds(50))
                Glibc.close(b)
            }
            let result = await hubOutcome { try await hub.wait(for: .write, on: a, deadline: .after(.seconds(10))) }
            let sent = hubWrite(a, "x")
            return (result, sent < 0 ? errno : 0)
        }
        #expect(throws: Never.self) { try result.get() }
        #expect(sendErrno == EPIPE || sendErrno == ECONNRESET)
    }

    @Test("a closed descriptor wakes waiters in both slots and both directions")
    func closeWakesAllSlots() async throws {
        let results = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { Glibc.close(b) }
            hubFill(a)  // so that write waits park
            let registration = try hub.registration(for: a)
            let tasks = [
                hub.spawn { try await hub.wait(for: .read, on: registration) },
                hub.spawn { try await hub.wait(for: .read, on: registration, slot: .secondary) },
                hub.spawn { try await hub.wait(for: .write, on: registration) },
                hub.spawn { try await hub.wait(for: .write, on: registration, slot: .secondary) },
            ]
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 4 }
            hub.deregister(registration, closeDescriptor: true)
            var results: [IOError.Kind?] = []
            for task in tasks { results.append(hubIOErrorKind(await task.result)) }
            // Waiting on the deregistered registration fails at once too.
            results.append(hubIOErrorKind(await hubOutcome { try await hub.wait(for: .read, on: registration) }))
            return results
        }
        #expect(results == [.closed, .closed, .closed, .closed, .closed])
    }
}

/// What a waiter saw when its descriptor was closed under it.
struct HubCloseOutcome: Sendable {
    let result: Result<Void, any Error>
    let waited: Double
    let wakeDelay: Double
    let peerSawEOF: Bool
    let waiters: Int
    let registered: Int

    func check(sourceLocation: SourceLocation = #_sourceLocation) {
        let error = hubError(result) as? IOError
        #expect(error?.kind == .closed, sourceLocation: sourceLocation)
        #expect(error?.errno == .badFileDescriptor, sourceLocation: sourceLocation)
        #expect(waited >= 0.09, sourceLocation: sourceLocation)
        #expect(wakeDelay < 1, sourceLocation: sourceLocation)
        #expect(peerSawEOF, "the descriptor was really closed", sourceLocation: sourceLocation)
        #expect(waiters == 0, sourceLocation: sourceLocation)
        // The descriptor left the hub (the peer was never registered).
        #expect(registered == 0, sourceLocation: sourceLocation)
    }
}
