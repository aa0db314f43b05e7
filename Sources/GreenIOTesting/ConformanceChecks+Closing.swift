import GreenIO

// The checks about ends and closing: half-close, close waking waiters, end of stream, zero-length
// operations, file references.

extension ConformanceProbe {
    func checkHalfClose() async throws {
        let (a, b) = try await pair(.timeout(Self.patience))
        let there = Self.pattern(200, seed: seed)
        let back = Self.pattern(300, seed: seed &+ 1)
        try await sendAll(a, there)
        try a.shutdown(.write)
        expect(try await receiveExactly(b, there.count) == there, "the bytes sent before shutdown(.write) arrived changed")
        try await expectEnd(b, "after the peer's shutdown(.write)")
        try await sendAll(b, back)
        expect(try await receiveExactly(a, back.count) == back, "after shutdown(.write), the bytes the peer sent back arrived changed")
        try b.shutdown(.write)
        try await expectEnd(a, "after both shut down writing")
    }

    func checkCloseWakesWaiter() async throws {
        guard let hub = Hub.current else { throw CheckFailure("not on a hub") }
        // A parked receive.
        let (a, _) = try await pair(.timeout(.seconds(10)))
        let reader = hub.spawn { [self] in _ = try await receive(a, deadline: .after(.seconds(3))) }
        try await Hub.sleep(for: .milliseconds(100))
        a.close()
        await expectClosedError(reader, "a receive parked when another green thread closed its socket")
        // A parked send.
        let (c, _) = try await pair(.timeout(.seconds(10)))
        _ = try await fill(c)
        try c.setTimeout(.timeout(.seconds(10)))
        let writer = hub.spawn { [self] in _ = try await send(c, Self.pattern(Self.chunk, seed: seed)[...], deadline: .after(.seconds(3))) }
        try await Hub.sleep(for: .milliseconds(100))
        c.close()
        await expectClosedError(writer, "a send parked when another green thread closed its socket")
    }

    /// Expects `task` to end with `IOError` `.closed` within `atOnce` of now.
    private func expectClosedError(_ task: Task<Void, any Error>, _ what: String) async {
        let start = Deadline.now
        do {
            try await task.value
            fail("\(what): it returned instead of throwing .closed")
        } catch let error as IOError where error.kind == .closed {
            let took = Self.elapsed(since: start)
            expect(took <= Self.atOnce + .milliseconds(500), "\(what): woken only after \(took)")
        } catch {
            fail("\(what): expected IOError .closed, got \(error)")
        }
    }

    func checkEndOfStream() async throws {
        let (a, b) = try await pair(.timeout(Self.patience))
        let last = Self.pattern(100, seed: seed)
        try await sendAll(a, last)
        a.close()
        expect(try await receiveExactly(b, last.count) == last, "the bytes sent before close arrived changed")
        try await expectEnd(b, "after the peer's close")
        try await expectEnd(b, "a second receive after the end of the stream")
        expect(a.isClosed, "isClosed is false after close()")
        do {
            let after = try await receive(a, deadline: .after(Self.patience))
            fail("a receive on a closed socket gave \(after), expected an error")
        } catch is IOError {
        }
    }

    func checkZeroLength() async throws {
        let (a, b) = try await pair(.timeout(Self.short))
        let empty = try await send(a, [][...], deadline: .after(Self.patience))
        expect(empty == .completed(0), "an empty send gave \(empty)")
        switch traits.zeroLengthReceive {
        case .waitsUntilReadable:
            // Only that it waits: the timeout's own precision is `timeoutMode`'s to check.
            await expectTimedOut("an empty receive with nothing waiting", message: nil, atMost: .seconds(4)) {
                _ = try await receive(b, 0, deadline: .after(.seconds(3)))
            }
            try b.setTimeout(.nonBlocking)
            let outcome = try await receive(b, 0, deadline: nil)
            if case .wouldBlock = outcome {} else {
                fail("a non-blocking empty receive with nothing waiting gave \(outcome), expected would-block")
            }
        case .returnsAtOnce:
            let outcome = try await expectPrompt("an empty receive with nothing waiting") {
                try await receive(b, 0, deadline: .after(.seconds(3)))
            }
            expect(outcome == .bytes([]), "an empty receive with nothing waiting gave \(outcome), expected 0 at once")
        }
        try b.setTimeout(.timeout(Self.patience))
        let message = Self.pattern(1, seed: seed)
        try await sendAll(a, message)
        try await b.waitUntilReadable(deadline: .after(Self.patience))
        let outcome = try await receive(b, 0, deadline: .after(Self.patience))
        expect(outcome == .bytes([]), "an empty receive with a byte waiting gave \(outcome), expected 0")
        let next = try await receive(b, deadline: .after(Self.patience))
        expect(next == .bytes(message), "after an empty send and an empty receive, the next receive gave \(next), expected the one byte sent")
    }

    func checkFileReferences() async throws {
        let (a, b) = try await pair(.timeout(Self.patience))
        let file = try a.makeSocketIO(mode: "rwb")
        a.close()
        expect(a.isClosed, "isClosed is false after close()")
        expect(a.fileDescriptor >= 0, "close() with a file object open closed the descriptor")
        do {
            try await sendAll(a, Self.pattern(10, seed: seed))
            _ = try await receiveExactly(b, 10)
            try await sendAll(b, Self.pattern(10, seed: seed &+ 1))
            _ = try await receiveExactly(a, 10)
        } catch {
            fail("after close() with a file object open, the socket stopped working: \(error)")
        }
        try b.setTimeout(.nonBlocking)
        let early = try await receive(b, deadline: nil)
        if case .wouldBlock = early {} else { fail("the peer saw \(early) while a file object held the socket open") }
        file.close()
        expect(a.fileDescriptor == -1, "releasing the last file reference left descriptor \(a.fileDescriptor) open")
        try b.setTimeout(.timeout(Self.patience))
        try await expectEnd(b, "after the last file object of the closed peer closed")
        a.close()  // idempotent
    }
}
