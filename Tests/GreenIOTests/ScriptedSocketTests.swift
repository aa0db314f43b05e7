import Glibc
import Testing
import GreenIO
import GreenIOTesting

// ScriptedSocket: each script verb, the RawSocket contract (timeouts, close waking waiters, file
// references, shutdown, zero-length operations), and the file objects on top of it.

/// One raw receive of at most `count` bytes: the bytes (empty at the end), or nil for would-block.
private func receive(_ socket: any RawSocket, _ count: Int = 65536, deadline: Deadline? = nil) async throws -> [UInt8]? {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
    defer { buffer.deallocate() }
    let target = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
    switch try await socket.receive(into: target, deadline: deadline) {
    case .completed(let n): return Array(buffer[0..<n])
    case .wouldBlock: return nil
    }
}

/// One raw receive's outcome (the bytes are dropped).
private func receiveOutcome(_ socket: any RawSocket, _ count: Int = 65536, deadline: Deadline? = nil) async throws -> IOOutcome {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 1)
    defer { buffer.deallocate() }
    return try await socket.receive(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), deadline: deadline)
}

/// One raw send of `bytes`.
private func send(_ socket: any RawSocket, _ bytes: [UInt8], deadline: Deadline? = nil) async throws -> IOOutcome {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    return try await socket.send(UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]), deadline: deadline)
}

/// Receives until `count` bytes came or the stream ended.
private func receiveExactly(_ socket: any RawSocket, _ count: Int) async throws -> [UInt8] {
    var got: [UInt8] = []
    while got.count < count {
        guard let chunk = try await receive(socket, count - got.count) else { throw IOError.wouldBlock() }
        if chunk.isEmpty { break }
        got += chunk
    }
    return got
}

@Suite("ScriptedSocket: script verbs", .timeLimit(.minutes(1)))
struct ScriptedSocketVerbTests {
    @Test func roundTripAndSentRecord() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            #expect(try await send(a, bytes("hello")) == .completed(5))
            #expect(try await send(b, bytes("world!")) == .completed(6))
            #expect(try await receive(b) == bytes("hello"))
            #expect(try await receive(a) == bytes("world!"))
            #expect(a.sent == bytes("hello"))
            #expect(b.sent == bytes("world!"))
            #expect(a.fileDescriptor >= 0 && a.fileDescriptor != b.fileDescriptor)
        }
    }

    @Test func chunkSizeLimitsEachReceive() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(chunkSize: 3), timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("abcdefgh"))
            var chunks: [[UInt8]] = []
            while let chunk = try await receive(b), !chunk.isEmpty {
                chunks.append(chunk)
                if chunks.joined().count == 8 { break }
            }
            #expect(chunks == [bytes("abc"), bytes("def"), bytes("gh")])
        }
    }

    @Test func sendWindowGivesPartialSendsAndWouldBlock() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(sendWindow: 4), timeout: .nonBlocking)
            defer { a.close(); b.close() }
            #expect(try await send(a, bytes("abcdef")) == .completed(4))
            #expect(try await send(a, bytes("ef")) == .wouldBlock(.write))
            #expect(try await receive(b, 2) == bytes("ab"))
            #expect(try await send(a, bytes("efgh")) == .completed(2))
            #expect(a.unreceivedCount == 4)
            #expect(try await receive(b) == bytes("cdef"))
        }
    }

    @Test func blockingSendWaitsForRoom() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try ScriptedSocket.pair(aToB: Script(sendWindow: 2), timeout: .blocking)
            defer { a.close(); b.close() }
            #expect(try await send(a, bytes("ab")) == .completed(2))
            let reader = Hub.current!.spawn {
                try await Hub.sleep(for: .milliseconds(50))
                return try await receive(b, 1)
            }
            let start = time.elapsed
            #expect(try await send(a, bytes("cd")) == .completed(1))
            #expect(time.elapsed - start == .milliseconds(50))
            #expect(try await reader.value == bytes("a"))
        }
    }

    @Test func receiveWouldBlockIsInjectedOnceInEitherDirection() async throws {
        try await onHub(limit: .seconds(20)) {
            let script = Script().at(0, .receiveWouldBlock(.write)).at(2, .receiveWouldBlock(.read))
            let (a, b) = try ScriptedSocket.pair(aToB: script, timeout: .nonBlocking)
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("abcd"))
            #expect(try await receiveOutcome(b) == .wouldBlock(.write))
            #expect(try await receive(b) == bytes("ab"))
            #expect(try await receiveOutcome(b) == .wouldBlock(.read))
            #expect(try await receive(b) == bytes("cd"))
            // Blocking mode: the injected would-block is one spurious wake-up, never an outcome.
            let (c, d) = try ScriptedSocket.pair(aToB: Script().at(0, .receiveWouldBlock(.write)), timeout: .blocking)
            defer { c.close(); d.close() }
            _ = try await send(c, bytes("xy"))
            #expect(try await receive(d, deadline: .after(.seconds(5))) == bytes("xy"))
        }
    }

    @Test func sendWouldBlockAndSendError() async throws {
        try await onHub(limit: .seconds(20)) {
            let script = Script().at(2, .sendWouldBlock(.read)).at(3, .sendError(IOError.system(.brokenPipe)))
            let (a, b) = try ScriptedSocket.pair(aToB: script, timeout: .nonBlocking)
            defer { a.close(); b.close() }
            #expect(try await send(a, bytes("abcd")) == .completed(2))
            #expect(try await send(a, []) == .completed(0))  // an empty send plays no event
            #expect(try await send(a, bytes("cd")) == .wouldBlock(.read))
            #expect(try await send(a, bytes("cd")) == .completed(1))
            await expectIOError(.system, errno: EPIPE) { try await send(a, bytes("d")) }
            #expect(try await send(a, bytes("d")) == .completed(1))
            #expect(try await receive(b) == bytes("abcd"))
            #expect(a.sent == bytes("abcd"))
        }
    }

    @Test func stallUntilADeadline() async throws {
        try await onHub(limit: .seconds(20)) {
            let until = Deadline.after(.milliseconds(300))
            let (a, b) = try ScriptedSocket.pair(aToB: Script().at(2, .stall(until: until)), timeout: .nonBlocking)
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("abcd"))
            #expect(try await receive(b) == bytes("ab"))
            #expect(try await receiveOutcome(b) == .wouldBlock(.read))
            try b.setTimeout(.timeout(.milliseconds(50)))
            await expectIOError(.timedOut, message: "timed out") { try await receive(b) }
            try b.setTimeout(.blocking)
            #expect(try await receive(b, deadline: .after(.seconds(5))) == bytes("cd"))
            #expect(until.hasPassed)
        }
    }

    @Test func pauseStartsWhenReached() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try ScriptedSocket.pair(aToB: Script().at(1, .pause(.milliseconds(200))), timeout: .blocking)
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("ab"))
            try await Hub.sleep(for: .milliseconds(250))  // the pause has not started yet
            #expect(try await receive(b) == bytes("a"))
            let start = time.elapsed
            try await b.waitUntilReadable(deadline: .after(.seconds(5)))
            #expect(time.elapsed - start == .milliseconds(200), "the pause starts when a receive reaches it")
            #expect(try await receive(b) == bytes("b"))
        }
    }

    @Test func receiveErrorAtAByteThenTheStreamGoesOn() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script().at(3, .receiveError(IOError.system(.connectionReset))),
                                                 timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("abcdef"))
            #expect(try await receive(b) == bytes("abc"))
            await expectIOError(.system, errno: ECONNRESET) { try await receive(b) }
            #expect(try await receive(b) == bytes("def"))
        }
    }

    @Test(arguments: [StreamEnding.clean, .closeNotify, .ragged, .reset])
    func endings(_ ending: StreamEnding) async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(ending: ending), timeout: .timeout(.seconds(5)))
            defer { b.close() }
            _ = try await send(a, bytes("last"))
            a.close()
            #expect(try await receive(b) == bytes("last"))
            switch ending {
            case .clean, .closeNotify:
                #expect(try await receive(b) == [])
                #expect(try await receive(b) == [])
            case .ragged:
                await expectIOError(.tlsEOF, message: "EOF occurred in violation of protocol") { try await receive(b) }
                await expectIOError(.tlsEOF) { try await receive(b) }
            case .reset:
                await expectIOError(.system, errno: ECONNRESET) { try await receive(b) }
                #expect(try await receive(b) == [])
            }
            await expectIOError(.system, errno: EPIPE) { try await send(b, bytes("x")) }
        }
    }
}

@Suite("ScriptedSocket: the RawSocket contract", .serialized, .timeLimit(.minutes(1)))
struct ScriptedSocketContractTests {
    @Test func timeoutModeThrowsTimedOutAfterTheTimeout() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try ScriptedSocket.pair(aToB: Script(sendWindow: 1), timeout: .timeout(.milliseconds(150)))
            defer { a.close(); b.close() }
            var start = time.elapsed
            await expectIOError(.timedOut, message: "timed out") { try await receive(b) }
            #expect(time.elapsed - start == .milliseconds(150))
            await expectIOError(.timedOut, message: "timed out") { try await b.waitUntilReadable(deadline: nil) }
            _ = try await send(a, bytes("x"))
            start = time.elapsed
            await expectIOError(.timedOut, message: "timed out") { try await send(a, bytes("y")) }
            #expect(time.elapsed - start == .milliseconds(150))
        }
    }

    @Test func deadlineCapsTheTimeoutAndWorksWhenBlocking() async throws {
        try await VirtualTime.run(limit: .seconds(20)) { time in
            let (a, b) = try ScriptedSocket.pair(timeout: .timeout(.seconds(10)))
            defer { a.close(); b.close() }
            let start = time.elapsed
            await expectIOError(.timedOut) { try await receive(b, deadline: .after(.milliseconds(100))) }
            #expect(time.elapsed - start == .milliseconds(100))
            try b.setTimeout(.blocking)
            await expectIOError(.timedOut) { try await receive(b, deadline: .after(.milliseconds(50))) }
            await expectIOError(.timedOut) { try await receive(b, deadline: .now) }
        }
    }

    @Test func nonBlockingNeverWaits() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(sendWindow: 1), timeout: .nonBlocking)
            defer { a.close(); b.close() }
            #expect(try await receiveOutcome(b) == .wouldBlock(.read))
            try await b.waitUntilReadable(deadline: nil)  // returns at once
            #expect(try await send(a, bytes("ab")) == .completed(1))
            #expect(try await send(a, bytes("b")) == .wouldBlock(.write))
            // The descriptor is readable exactly when a receive may make progress.
            try await Hub.current!.wait(for: .read, on: b.fileDescriptor, deadline: .after(.seconds(5)))
            #expect(try await receive(b) == bytes("a"))
        }
    }

    @Test func closeFromAnotherGreenThreadWakesAParkedReader() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(timeout: .blocking)
            defer { a.close() }
            let reader = Hub.current!.spawn { try await receive(b, deadline: .after(.seconds(10))) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            b.close()
            do {
                _ = try await reader.value
                Issue.record("the reader was not woken with an error")
            } catch let error as IOError {
                #expect(error == IOError.closedWhileWaiting)
            }
            await expectIOError(.system, errno: EBADF) { try await receive(b) }
            #expect(b.fileDescriptor == -1)
        }
    }

    @Test func closeWakesAParkedWriterAndThePeerSeesTheEnd() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(sendWindow: 1), timeout: .blocking)
            defer { b.close() }
            _ = try await send(a, bytes("a"))
            let writer = Hub.current!.spawn { try await send(a, bytes("b"), deadline: .after(.seconds(10))) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            a.close()
            await expectIOError(.closed) { try await writer.value }
            #expect(try await receive(b) == bytes("a"))
            #expect(try await receive(b) == [])
        }
    }

    @Test func aSecondReaderIsBusy() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            let first = Hub.current!.spawn { try await receive(b) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            await expectIOError(.busy) { try await receive(b) }
            _ = try await send(a, bytes("x"))
            #expect(try await first.value == bytes("x"))
        }
    }

    @Test func fileReferencesKeepTheSocketOpen() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(timeout: .timeout(.seconds(5)))
            defer { b.close() }
            let file = try a.makefile("rwb")
            a.close()
            #expect(a.isClosed)
            #expect(a.fileDescriptor >= 0)
            _ = try await file.pair?.write(bytes("still open\n"))
            try await file.pair?.flush()
            #expect(try await receive(b) == bytes("still open\n"))
            b.setTimeoutOrRecord(.nonBlocking)
            #expect(try await receiveOutcome(b) == .wouldBlock(.read))  // no end of stream yet
            try await file.close()
            #expect(a.fileDescriptor == -1)
            #expect(try await receive(b) == [])
        }
    }

    @Test func shutdownDirections() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("ab"))
            try a.shutdown(.write)
            await expectIOError(.system, errno: EPIPE) { try await send(a, bytes("x")) }
            #expect(try await receive(b) == bytes("ab"))
            #expect(try await receive(b) == [])
            _ = try await send(b, bytes("back"))
            #expect(try await receive(a) == bytes("back"))
            try a.shutdown(.read)
            #expect(try await receive(a) == [])
            await expectIOError(.system, errno: EPIPE) { try await send(b, bytes("lost")) }
            a.close()
            await expectIOError(.system, errno: EBADF) { try a.shutdown(.both) }
        }
    }

    @Test func zeroLengthOperations() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(timeout: .timeout(.milliseconds(100)))
            defer { a.close(); b.close() }
            #expect(try await send(a, []) == .completed(0))
            // Nothing waiting: an empty receive waits like any receive.
            await expectIOError(.timedOut) { try await receiveOutcome(b, 0) }
            try b.setTimeout(.nonBlocking)
            #expect(try await receiveOutcome(b, 0) == .wouldBlock(.read))
            _ = try await send(a, bytes("z"))
            #expect(try await receiveOutcome(b, 0) == .completed(0))
            #expect(try await receive(b) == bytes("z"))  // nothing was consumed
        }
    }
}

extension ScriptedSocket {
    /// `setTimeout` for a socket known to be open (records an issue otherwise).
    fileprivate func setTimeoutOrRecord(_ mode: TimeoutMode) {
        do { try setTimeout(mode) } catch { Issue.record("setTimeout failed: \(error)") }
    }
}

@Suite("ScriptedSocket: file objects on top", .timeLimit(.minutes(1)))
struct ScriptedSocketFileTests {
    @Test func bufferedReaderReadsLinesDeliveredOneByteAtATime() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(chunkSize: 1), timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            try await a.sendAll(bytes("first line\nsecond\n"))
            a.close()
            let reader = try b.makeReader()
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("first line\n"))
            #expect(try await reader.readLine() == bytes("second\n"))
            #expect(try await reader.readLine() == [])
        }
    }

    @Test func bufferedWriterFlushesThroughASmallWindow() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(chunkSize: 5, sendWindow: 7), timeout: .timeout(.seconds(5)))
            defer { b.close() }
            let payload = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let reader = Hub.current!.spawn { try await receiveExactly(b, payload.count) }
            let writer = try a.makeWriter(bufferSize: 64)
            _ = try await writer.write(payload)
            try await writer.close()
            a.close()
            #expect(try await reader.value == payload)
            #expect(a.sent == payload)
        }
    }

    @Test func textWrapperDecodesCharactersSplitAcrossChunks() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try ScriptedSocket.pair(aToB: Script(chunkSize: 1), timeout: .timeout(.seconds(5)))
            defer { a.close(); b.close() }
            try await a.sendAll(bytes("héllo wörld €\r\nnext\n"))
            a.close()
            let text = try b.makeTextFile("r")
            #expect(try await text.readLine() == "héllo wörld €\n")
            #expect(try await text.readLine() == "next\n")
            #expect(try await text.readLine() == "")
            try await text.close()
        }
    }

    @Test func nonBlockingReaderKeepsAPartialLineAcrossWouldBlock() async throws {
        try await onHub(limit: .seconds(20)) {
            let script = Script().at(3, .receiveWouldBlock(.read))
            let (a, b) = try ScriptedSocket.pair(aToB: script, timeout: .nonBlocking)
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("abcdef\n"))
            let file = try b.makefile("rb")
            guard let reader = file.reader else { throw IOError.invalidArgument("expected a reader") }
            #expect(try await reader.readLine() == nil)  // "abc" then would-block: kept
            #expect(try await reader.readLine() == bytes("abcdef\n"))
            try await file.close()
        }
    }

    @Test func readerTimeoutLatchesThroughTheStall() async throws {
        try await onHub(limit: .seconds(20)) {
            let script = Script().at(3, .pause(.milliseconds(400)))
            let (a, b) = try ScriptedSocket.pair(aToB: script, timeout: .timeout(.milliseconds(100)))
            defer { a.close(); b.close() }
            _ = try await send(a, bytes("abcdef\n"))
            let reader = try b.makeReader()
            defer { reader.close() }
            reader.timeoutPolicy = .resumable
            await expectIOError(.timedOut) { try await reader.readLine() }
            try b.setTimeout(.timeout(.seconds(5)))
            #expect(try await reader.readLine() == bytes("abcdef\n"))  // nothing lost
        }
    }
}
