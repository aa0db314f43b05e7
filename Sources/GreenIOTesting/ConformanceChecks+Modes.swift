import GreenIO

// The checks about timeout modes: would-block directions, blocking, timeout, non-blocking,
// deadlines.

extension ConformanceProbe {
    func checkWouldBlockDirection() async throws {
        let (a, b) = try await pair(.nonBlocking)
        let received = try await receive(a, deadline: nil)
        expect(received == .wouldBlock(.read), "a non-blocking receive with nothing to read gave \(received), expected would-block (read)")
        let (_, direction) = try await fill(b)
        expect(direction == .write, "a non-blocking send into a full peer reported would-block (\(direction)), expected (write)")
    }

    func checkBlockingMode() async throws {
        let (a, b) = try await pair(.blocking)
        guard let hub = Hub.current else { throw CheckFailure("not on a hub") }
        let guardTask = watchdog([a, b])
        defer { guardTask?.cancel() }
        // A receive parks until the peer sends.
        let message = Self.pattern(10, seed: seed)
        let sender = hub.spawn { [self] in
            try await Hub.sleep(for: .milliseconds(50))
            try await sendAll(b, message)
        }
        var start = Deadline.now
        let received = try await receive(a, deadline: nil)
        expect(received == .bytes(message), "a blocking receive gave \(received), expected the peer's 10 bytes")
        expect(Self.elapsed(since: start) >= .milliseconds(30), "a blocking receive returned before the peer sent")
        try await sender.value
        // A send parks until the peer reads.
        _ = try await fill(a)
        try a.setTimeout(.blocking)
        let sendDone = Flag()
        let drainer = hub.spawn { [self] in
            try await Hub.sleep(for: .milliseconds(50))
            while !sendDone.isSet {
                do {
                    _ = try await receive(b, deadline: .after(.milliseconds(100)))
                } catch let error as IOError where error.kind == .timedOut {
                    continue
                }
            }
        }
        start = Deadline.now
        let outcome = try await send(a, Self.pattern(Self.chunk, seed: seed)[...], deadline: nil)
        sendDone.isSet = true
        switch outcome {
        case .completed(let n):
            expect(n > 0, "a blocking send into a full peer took none")
            expect(Self.elapsed(since: start) >= .milliseconds(30), "a blocking send into a full peer returned before the peer read")
        case .wouldBlock(let interest):
            fail("a blocking send into a full peer reported would-block (\(interest))")
        }
        // The drainer may be parked in a receive: cancelling ends it (whatever its deadline does).
        drainer.cancel()
        _ = await drainer.result
    }

    func checkTimeoutMode() async throws {
        let (a, b) = try await pair(.timeout(Self.short))
        await expectTimedOut("a receive from an idle peer", message: traits.readTimeoutMessage) {
            _ = try await receive(a, deadline: .after(.seconds(3)))
        }
        // waitUntilReadable may return early; if it throws, it is a timeout like a receive's.
        let start = Deadline.now
        do {
            try await a.waitUntilReadable(deadline: .after(.seconds(3)))
            let took = Self.elapsed(since: start)
            expect(took <= Self.shortAtMost, "waitUntilReadable on an idle peer returned only after \(took)")
        } catch let error as IOError where error.kind == .timedOut {
            let took = Self.elapsed(since: start)
            expect(error.message == traits.readTimeoutMessage, "waitUntilReadable timed out with \"\(error.message)\"")
            expect(took >= Self.shortAtLeast && took <= Self.shortAtMost, "waitUntilReadable timed out after \(took)")
        }
        _ = try await fill(b)
        try b.setTimeout(.timeout(Self.short))
        await expectTimedOut("a send into a full peer", message: traits.writeTimeoutMessage) {
            _ = try await send(b, Self.pattern(Self.chunk, seed: seed)[...], deadline: .after(.seconds(3)))
        }
    }

    func checkNonBlockingMode() async throws {
        let (a, b) = try await pair(.nonBlocking)
        let received = try await expectPrompt("a non-blocking receive with nothing to read") {
            try await receive(a, deadline: .after(Self.patience))
        }
        if case .wouldBlock = received {} else { fail("a non-blocking receive with nothing to read gave \(received)") }
        try await expectPrompt("waitUntilReadable in non-blocking mode") {
            try await a.waitUntilReadable(deadline: .after(Self.patience))
        }
        // Bytes the peer sent are there for a non-blocking receive (polled: they may take a moment).
        let message = Self.pattern(1, seed: seed)
        _ = try await send(b, message[...], deadline: nil)
        let until = Deadline.after(Self.patience)
        var got: Received = .wouldBlock(.read)
        while case .wouldBlock = got, !until.hasPassed {
            try await Hub.sleep(for: .milliseconds(2))
            got = try await receive(a, deadline: nil)
        }
        expect(got == .bytes(message), "a non-blocking receive after the peer sent gave \(got)")
        // Sends into a full peer: the one that would block returns at once too.
        _ = try await fill(b)
        let outcome = try await expectPrompt("a non-blocking send into a full peer") {
            try await send(b, Self.pattern(Self.chunk, seed: seed)[...], deadline: .after(Self.patience))
        }
        if case .completed(let n) = outcome { fail("a non-blocking send into a full peer took \(n) bytes") }
    }

    func checkDeadlines() async throws {
        let (a, b) = try await pair(.timeout(.seconds(3)))
        await expectTimedOut("a receive with a deadline before its timeout", message: traits.readTimeoutMessage) {
            _ = try await receive(a, deadline: .after(Self.short))
        }
        try a.setTimeout(.blocking)
        do {
            let guardTask = watchdog([a, b], limit: .seconds(3))
            defer { guardTask?.cancel() }
            await expectTimedOut("a blocking receive with a deadline", message: traits.readTimeoutMessage) {
                _ = try await receive(a, deadline: .after(Self.short))
            }
        }
        await expectTimedOut("a receive with a deadline already passed", message: traits.readTimeoutMessage,
                             atLeast: .zero, atMost: Self.atOnce) {
            _ = try await receive(a, deadline: Deadline.now.advanced(by: .seconds(-1)))
        }
        _ = try await fill(b)
        try b.setTimeout(.timeout(.seconds(3)))
        await expectTimedOut("a send into a full peer with a deadline before its timeout", message: traits.writeTimeoutMessage) {
            _ = try await send(b, Self.pattern(Self.chunk, seed: seed)[...], deadline: .after(Self.short))
        }
    }
}

/// A flag shared by the green threads of one check (all on one hub thread).
final class Flag: @unchecked Sendable {
    var isSet = false
}
