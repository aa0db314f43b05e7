import Glibc
import Synchronization
import Testing
@testable import GreenIO

/// Counts deliveries of the harmless signal used by the EINTR test (touched before the handler is
/// installed, so the handler never runs a lazy global initialiser).
let hubSignalDeliveries = Atomic<Int>(0)

/// Descriptor life cycle: number reuse, dead waits, double close, guards, EINTR (EVT-57 … EVT-61).
@Suite("Hub descriptors", .timeLimit(.minutes(1)), .serialized)
struct HubDescriptorTests {
    // Tests here reuse a descriptor number with dup2(newFD, N): that closes N behind the hub's back
    // and gives its number to a new file in one atomic step, so a test running in parallel cannot
    // take the number in between (as it could after a plain close).

    @Test("EVT-57 a reused fd number wakes the old waiter with .closed; a waiter on the new fd works")
    func fdReuseWithRawRegistration() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (old, oldPeer) = hubRawSocketPair()
            defer { Glibc.close(oldPeer) }
            let oldWaiter = hub.spawn { try await hub.wait(for: .read, on: old) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }

            // Close `old` behind the hub's back; its number now names a pipe that is already readable.
            let (pipeRead, pipeWrite) = hubRawPipe()
            defer { Glibc.close(pipeWrite) }
            hubWrite(pipeWrite, "new")
            precondition(dup2(pipeRead, old) == old)
            Glibc.close(pipeRead)
            // Events of the new file must not reach the old waiter before the hub learns of it.
            try await Hub.sleep(for: .milliseconds(30))
            let stillParked = hub.statistics.fileDescriptorWaiters == 1
            _ = try hub.register(old)
            let oldResult = await oldWaiter.result

            // The new descriptor works normally: ready data first, then data written later.
            try await hub.wait(for: .read, on: old, deadline: .after(.seconds(5)))
            let first = hubRead(old)
            hub.spawn {
                try await Hub.sleep(for: .milliseconds(30))
                hubWrite(pipeWrite, "later")
            }
            var second: String?
            while second == nil {
                try await hub.wait(for: .read, on: old, deadline: .after(.seconds(5)))
                second = hubRead(old)
            }
            hub.hubTestClose(old)
            return (stillParked, oldResult, first, second, hub.statistics.fileDescriptorWaiters)
        }
        let (stillParked, oldResult, first, second, waiters) = outcome
        #expect(stillParked)
        #expect(hubIOErrorKind(oldResult) == .closed)
        #expect(first == "new")
        #expect(second == "later")
        #expect(waiters == 0)
    }

    @Test("EVT-57 a wait by number notices the number was reused behind the hub's back")
    func fdReuseNoticedByNumberedWait() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (old, oldPeer) = hubRawSocketPair()
            defer { Glibc.close(oldPeer) }
            let oldWaiter = hub.spawn { try await hub.wait(for: .read, on: old) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }

            // The number now names a readable pipe, and nobody tells the hub.
            let (pipeRead, pipeWrite) = hubRawPipe()
            defer { Glibc.close(pipeWrite) }
            hubWrite(pipeWrite, "new")
            precondition(dup2(pipeRead, old) == old)
            Glibc.close(pipeRead)
            // A wait by number finds the stale registration, sees epoll no longer knows the number,
            // and registers the new descriptor: the old waiter is retired, the new wait works.
            try await hub.wait(for: .read, on: old, deadline: .after(.seconds(5)))
            let oldResult = await oldWaiter.result
            let data = hubRead(old)
            hub.hubTestClose(old)
            return (oldResult, data, hub.statistics.fileDescriptorWaiters)
        }
        let (oldResult, data, waiters) = outcome
        #expect(hubIOErrorKind(oldResult) == .closed)
        #expect(data == "new")
        #expect(waiters == 0)
    }

    @Test("EVT-57 a new Socket on a reused number retires the old registration; stale events stay out")
    func fdReuseWithSocket() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, aPeer) = try Socket.pair()
            defer { aPeer.close() }
            let number = a.fileDescriptor
            // Keep the old open file alive through a duplicate, so epoll keeps its old entry and can
            // still report events for it under the same number.
            let keepAlive = dup(number)
            defer { Glibc.close(keepAlive) }
            let oldReader = hub.spawn { try await a.recv(10) }
            try await hubUntil { hub.statistics.fileDescriptorWaiters == 1 }

            let (fresh, freshPeer) = hubRawSocketPair()
            defer { Glibc.close(freshPeer) }
            precondition(dup2(fresh, number) == number)
            Glibc.close(fresh)
            let adopted = try Socket(adopting: number)  // registers the number again
            let oldResult = await oldReader.result

            // The old connection becomes readable: epoll still reports it under the same number, but
            // with the old generation, so neither a waiter nor the remembered readiness of the new
            // registration may see it.
            try await aPeer.sendAll(bytes("stale"))
            try await Hub.sleep(for: .milliseconds(20))
            let quiet = await hubOutcome {
                try await hub.wait(for: .read, on: number, deadline: .after(.milliseconds(200)))
            }
            try adopted.setTimeout(seconds: 5)
            hubWrite(freshPeer, "fresh")
            let received = await hubOutcome { try await adopted.recv(10) }
            adopted.close()
            // `a` lost its number to `adopted`; detach it so that nothing closes the number again.
            _ = a.detach()
            return (oldResult, quiet, received, hub.statistics.fileDescriptorWaiters)
        }
        let (oldResult, quiet, received, waiters) = outcome
        #expect(hubIOErrorKind(oldResult) == .closed)
        #expect(hubIOErrorKind(quiet) == .timedOut)
        #expect(try received.get() == bytes("fresh"))
        #expect(waiters == 0)
    }

    @Test("EVT-59 a timed-out waiter is not resumed by later I/O; the readiness is kept for the next wait")
    func timedOutWaiterNotResumed() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let resumptions = HubTestBox(0)
            let reader = hub.spawn {
                defer { resumptions.value += 1 }
                try await hub.wait(for: .read, on: a, deadline: .after(.milliseconds(10)))
            }
            let first = await reader.result
            hubWrite(b, "x")
            try await Hub.sleep(for: .milliseconds(50))
            let registration = try hub.registration(for: a)
            let remembered = registration.readReady
            let stats = hub.statistics
            let start = Deadline.now.nanoseconds
            try await hub.wait(for: .read, on: a, deadline: .after(.seconds(5)))
            return (first, resumptions.value, remembered, stats, hubSeconds(since: start), hubRead(a))
        }
        let (first, resumptions, remembered, stats, nextWait, text) = outcome
        #expect(hubIOErrorKind(first) == .timedOut)
        #expect(resumptions == 1)
        #expect(remembered)
        #expect(stats.fileDescriptorWaiters == 0)
        #expect(stats.pendingTimers == 0)
        #expect(nextWait < 1)
        #expect(text == "x")
    }

    @Test("EVT-60 closing a socket twice is harmless")
    func socketDoubleClose() async throws {
        let (peerSawEOF, registered) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let (a, b) = try Socket.pair()
            defer { b.close() }
            a.close()
            a.close()
            let rawPeer = b.fileDescriptor
            return (hubPeerSeesEOF(rawPeer), hub.statistics.registeredDescriptors)
        }
        #expect(peerSawEOF)
        #expect(registered == 1)
    }

    @Test("EVT-60 closing a socket whose number was reused never closes the new descriptor")
    func socketCloseAfterReuse() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let (a, aPeer) = try Socket.pair()
            defer { aPeer.close() }
            let number = a.fileDescriptor
            let (fresh, freshPeer) = hubRawSocketPair()
            defer { Glibc.close(freshPeer) }
            let identity = hubFileIdentity(fresh)
            precondition(dup2(fresh, number) == number)  // closes a's file behind its back
            Glibc.close(fresh)
            let adopted = try Socket(adopting: number)
            defer { adopted.close() }
            a.close()
            a.close()
            let sameFile = hubFileIdentity(number) == identity
            try adopted.setTimeout(seconds: 5)
            try await adopted.sendAll(bytes("ping"))
            let got = hubRead(freshPeer)
            hubWrite(freshPeer, "pong")
            let reply = await hubOutcome { try await adopted.recv(10) }
            return (sameFile, got, reply)
        }
        let (sameFile, got, reply) = outcome
        #expect(sameFile, "the reused number still names the new file")
        #expect(got == "ping")
        #expect(try reply.get() == bytes("pong"))
    }

    @Test("EVT-60 deregistering with close twice never closes a reused fd number")
    func doubleDeregisterAfterReuse() async throws {
        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            // Another test may take the freed number first; try until the number comes back to us.
            for _ in 0..<50 {
                let (pipeRead, pipeWrite) = hubRawPipe()
                // pipeRead stays open to the end, so a wrongly closed `reused` cannot turn the
                // write below into SIGPIPE.
                defer { Glibc.close(pipeRead); Glibc.close(pipeWrite) }
                let (a, b) = hubRawSocketPair()
                defer { Glibc.close(b) }
                let registration = try hub.registration(for: a)
                hub.deregister(registration, closeDescriptor: true)
                let reused = fcntl(pipeRead, F_DUPFD_CLOEXEC, a)
                guard reused == a else {
                    Glibc.close(reused)
                    continue
                }
                let identity = hubFileIdentity(reused)
                hub.deregister(registration, closeDescriptor: true)
                hub.deregister(registration, closeDescriptor: false)
                let stillOpen = identity != nil && hubFileIdentity(reused) == identity
                hubWrite(pipeWrite, "ok")
                let text = hubRead(reused)
                if stillOpen { Glibc.close(reused) }
                return (true, stillOpen, text)
            }
            return (false, false, nil)
        }
        let (reusedNumber, stillOpen, text) = outcome
        try #require(reusedNumber, "never got the freed number back")
        #expect(stillOpen)
        #expect(text == "ok")
    }

    @Test("EVT-61 waiting on fd -1 throws every time without breaking the hub")
    func invalidDescriptor() async throws {
        let (errors, sleptOK, readyOK) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            var errors: [IOError?] = []
            for _ in 0..<3 {
                let result = await hubOutcome { try await hub.wait(for: .read, on: -1, deadline: .after(.seconds(5))) }
                errors.append(hubError(result) as? IOError)
            }
            let registerResult = await hubOutcome { try hub.register(-1) }
            errors.append(hubError(registerResult) as? IOError)
            let sleptOK = await hubOutcome { try await Hub.sleep(for: .milliseconds(5)) }
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            hubWrite(b, "x")
            let readyOK = await hubOutcome { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(5))) }
            return (errors, sleptOK, readyOK)
        }
        #expect(errors.count == 4)
        for error in errors {
            #expect(error?.kind == .system)
            #expect(error?.errno == .invalidArgument)
        }
        #expect(throws: Never.self) { try sleptOK.get() }
        #expect(throws: Never.self) { try readyOK.get() }
    }

    @Test("EVT-61 waiting on a regular file fails with EPERM and leaves nothing registered")
    func regularFile() async throws {
        let (result, registered, readyOK) = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            var template = Array("/tmp/greenio-hub-XXXXXX".utf8CString)
            let file = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            precondition(file >= 0)
            template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            defer { Glibc.close(file) }
            let result = await hubOutcome { try await hub.wait(for: .read, on: file, deadline: .after(.seconds(5))) }
            let registered = hub.statistics.registeredDescriptors
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            hubWrite(b, "x")
            let readyOK = await hubOutcome { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(5))) }
            return (result, registered, readyOK)
        }
        let error = try #require(hubError(result) as? IOError)
        #expect(error.kind == .system)
        #expect(error.errno == Errno(rawValue: EPERM))
        #expect(registered == 0)
        #expect(throws: Never.self) { try readyOK.get() }
    }

    @Test("EVT-61 hub calls off the hub thread fail with .notOnHub")
    func callsOffHub() async throws {
        let hub = try Hub.startThread(name: "hub-guards")
        defer { hub.stop() }
        let (a, b) = hubRawSocketPair()
        defer { Glibc.close(a); Glibc.close(b) }
        let waitResult = await hubOutcome { try await hub.wait(for: .read, on: a, deadline: .after(.seconds(5))) }
        let sleepResult = await hubOutcome { try await Hub.sleep(for: .seconds(5)) }
        let scheduleResult = await hubOutcome { try hub.schedule(at: .now) {} }
        let registerResult = await hubOutcome { try hub.register(a) }
        #expect(hubIOErrorKind(waitResult) == .notOnHub)
        #expect(hubIOErrorKind(sleepResult) == .notOnHub)
        #expect(hubIOErrorKind(scheduleResult) == .notOnHub)
        #expect(hubIOErrorKind(registerResult) == .notOnHub)
    }

    @Test("EVT-61 a signal interrupting epoll_wait (EINTR) doesn't break the loop; waits still complete")
    func signalDuringWait() async throws {
        _ = hubSignalDeliveries.load(ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in hubSignalDeliveries.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: epoll_wait fails with EINTR
        var previous = sigaction()
        // SIGURG is ignored by default, so restoring the default later is harmless even if a
        // signal were still in flight.
        #expect(sigaction(SIGURG, &action, &previous) == 0)
        defer { sigaction(SIGURG, &previous, nil) }
        let before = hubSignalDeliveries.load(ordering: .relaxed)

        let outcome = try await onHub(limit: .seconds(20)) {
            let hub = Hub.current!
            let hubThread = pthread_self()
            // Threads started from Swift's concurrency pool inherit a mask that blocks most
            // signals; let this hub thread receive SIGURG.
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, SIGURG)
            precondition(pthread_sigmask(SIG_UNBLOCK, &unblock, nil) == 0)
            let (a, b) = hubRawSocketPair()
            defer { hub.hubTestClose(a); hub.hubTestClose(b) }
            let sleeper = hub.spawn { () -> Double in
                let start = Deadline.now.nanoseconds
                try await Hub.sleep(for: .milliseconds(150))
                return hubSeconds(since: start)
            }
            // Another OS thread interrupts the hub thread while it sits in epoll_wait, then writes.
            let signaller = Task.detached {
                for _ in 0..<5 {
                    try await Task.sleep(for: .milliseconds(20))
                    pthread_kill(hubThread, SIGURG)
                }
                hubWrite(b, "x")
            }
            try await hub.wait(for: .read, on: a, deadline: .after(.seconds(10)))
            let text = hubRead(a)
            try await signaller.value
            let slept = try await sleeper.value
            let afterwards = await hubOutcome { try await Hub.sleep(for: .milliseconds(5)) }
            return (text, slept, afterwards)
        }
        let (text, slept, afterwards) = outcome
        #expect(hubSignalDeliveries.load(ordering: .relaxed) - before >= 1)
        #expect(text == "x")
        #expect(slept >= 0.15)
        #expect(slept < 5)
        #expect(throws: Never.self) { try afterwards.get() }
    }
}
