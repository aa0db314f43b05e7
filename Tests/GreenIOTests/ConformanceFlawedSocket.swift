import GreenIO
import GreenIOTesting
import Synchronization

/// A `ScriptedSocket` with one deliberate bug, named after the conformance check that must catch
/// it (and only it): the kit's own test that each of its checks can fail.
final class FlawedSocket: ConfigurableRawSocket, @unchecked Sendable {
    typealias Check = RawSocketConformance.Check

    let inner: ScriptedSocket
    let flaw: Check
    private struct State {
        var mode: TimeoutMode = .blocking
        var writeShut = false
        var endSeen = false
        var operationsInFlight = 0
        var closeRequested = false
        var closeDeferred = false
    }
    private let state = Mutex(State())

    init(_ inner: ScriptedSocket, flaw: Check) {
        self.inner = inner
        self.flaw = flaw
        state.withLock { $0.mode = inner.timeout }
    }

    /// A connected pair with the same flaw, over scripted sockets with bounded windows.
    static func pair(_ flaw: Check) throws -> (FlawedSocket, FlawedSocket) {
        let window = Script(sendWindow: 100_000)
        let (a, b) = try ScriptedSocket.pair(aToB: window, bToA: window)
        return (FlawedSocket(a, flaw: flaw), FlawedSocket(b, flaw: flaw))
    }

    var fileDescriptor: Int32 { inner.fileDescriptor }
    var timeout: TimeoutMode { state.withLock { $0.mode } }
    var isClosed: Bool { state.withLock { $0.closeRequested } }

    func setTimeout(_ mode: TimeoutMode) throws {
        let valid = try mode.validated()
        state.withLock { $0.mode = valid }
        // timeoutMode's bug: a timeout is taken for "block".
        if flaw == .timeoutMode, case .timeout = valid {
            try inner.setTimeout(.blocking)
        } else {
            try inner.setTimeout(valid)
        }
    }

    func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        begin()
        defer { end() }
        let mode = timeout
        switch flaw {
        case .nonBlockingMode where mode == .nonBlocking:
            try await Hub.sleep(for: .seconds(1))  // "non-blocking" waits a while first
        case .halfClose where state.withLock({ $0.writeShut }):
            return .completed(0)  // shutdown(.write) ended reading too
        case .endOfStream where state.withLock({ $0.endSeen }) && buffer.count > 0:
            throw IOError.system(.badFileDescriptor)  // the end of the stream is not sticky
        case .zeroLength where buffer.count == 0:
            // An empty receive takes a byte and reports 0.
            let byte = UnsafeMutableRawBufferPointer.allocate(byteCount: 1, alignment: 1)
            defer { byte.deallocate() }
            let outcome = try await inner.receive(into: byte, deadline: deadline)
            if case .wouldBlock = outcome { return outcome }
            return .completed(0)
        case .randomChunking where buffer.count > 0 && buffer.count < 16_384:
            // Datagram-style truncation: what does not fit the caller's buffer is dropped.
            let big = UnsafeMutableRawBufferPointer.allocate(byteCount: 16_384, alignment: 1)
            defer { big.deallocate() }
            let outcome = try await inner.receive(into: big, deadline: deadline)
            guard case .completed(let n) = outcome else { return outcome }
            let kept = min(n, buffer.count)
            if kept > 0, let target = buffer.baseAddress, let source = big.baseAddress {
                target.copyMemory(from: source, byteCount: kept)
            }
            return .completed(kept)
        default:
            break
        }
        let (limit, forceNonBlocking) = flawedCall(mode, deadline: deadline)
        if forceNonBlocking { try inner.setTimeout(.nonBlocking) }
        defer { if forceNonBlocking { try? inner.setTimeout(.blocking) } }
        let outcome = try await inner.receive(into: buffer, deadline: limit)
        if outcome == .completed(0) && buffer.count > 0 { state.withLock { $0.endSeen = true } }
        return outcome
    }

    func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        begin()
        defer { end() }
        let mode = timeout
        if flaw == .roundTrip && bytes.count > 65_536 {
            // Large sends corrupt the byte past 64 KiB.
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
            defer { copy.deallocate() }
            copy.copyMemory(from: bytes)
            copy[65_536] ^= 0xFF
            return try await inner.send(UnsafeRawBufferPointer(copy), deadline: deadline)
        }
        let (limit, forceNonBlocking) = flawedCall(mode, deadline: deadline)
        if forceNonBlocking { try inner.setTimeout(.nonBlocking) }
        defer { if forceNonBlocking { try? inner.setTimeout(.blocking) } }
        let outcome = try await inner.send(bytes, deadline: limit)
        switch (flaw, outcome) {
        case (.wouldBlockDirection, .wouldBlock):
            return .wouldBlock(.read)  // the wrong direction
        case (.partialSends, .completed(let n)) where mode == .nonBlocking && n < bytes.count:
            return .completed(bytes.count)  // a partial send reported whole
        default:
            return outcome
        }
    }

    /// The deadline an inner operation gets, and whether it runs non-blocking once: the flaws of
    /// deadlines (ignored) and of blocking mode ("blocking" without a deadline does not wait).
    private func flawedCall(_ mode: TimeoutMode, deadline: Deadline?) -> (Deadline?, Bool) {
        if flaw == .deadlines { return (nil, false) }
        return (deadline, flaw == .blockingMode && mode == .blocking && deadline == nil)
    }

    func waitUntilReadable(deadline: Deadline?) async throws {
        if flaw == .nonBlockingMode && timeout == .nonBlocking { return }
        try await inner.waitUntilReadable(deadline: flaw == .deadlines ? nil : deadline)
    }

    func shutdown(_ direction: ShutdownDirection) throws {
        if direction != .read { state.withLock { $0.writeShut = true } }
        try inner.shutdown(direction)
    }

    func close() {
        let closeNow = state.withLock { state -> Bool in
            state.closeRequested = true
            // closeWakesWaiter's bug: a close waits for the operation in flight to end by itself.
            if flaw == .closeWakesWaiter && state.operationsInFlight > 0 {
                state.closeDeferred = true
                return false
            }
            return true
        }
        if closeNow { inner.close() }
    }

    func retainFileReference() {
        if flaw != .fileReferences { inner.retainFileReference() }  // references are not counted
    }

    func releaseFileReference() {
        if flaw != .fileReferences { inner.releaseFileReference() }
    }

    private func begin() { state.withLock { $0.operationsInFlight += 1 } }

    private func end() {
        let closeNow = state.withLock { state -> Bool in
            state.operationsInFlight -= 1
            guard state.closeDeferred && state.operationsInFlight == 0 else { return false }
            state.closeDeferred = false
            return true
        }
        if closeNow { inner.close() }
    }
}
