import Glibc
import GreenIO

/// One end of an in-memory connection whose behaviour is scripted per direction (``Script``): a
/// `RawSocket` for testing protocol code — under `makefile`, `SocketIO`, the buffered and text
/// layers, or a handler of your own — without a listener or a kernel socket.
///
/// Make a connected pair with ``ScriptedSocket/pair(aToB:bToA:timeout:)``, drive one end from the test and hand the
/// other to the code under test. The socket keeps `RawSocket`'s contract as `Socket` does:
///
/// - Timeout modes: blocking and timeout-mode operations wait on the hub, in a green thread, and
///   throw `IOError` `.timedOut` "timed out" when the socket's timeout or the call's `deadline`
///   passes (whichever comes first); non-blocking ones return `.wouldBlock(direction)`.
/// - The end of the stream: `.completed(0)` after the peer's `shutdown(.write)` or close, or the
///   script's other `StreamEnding`.
/// - Errors: `.system` `EBADF` once really closed, `EPIPE` for a send after our own
///   `shutdown(.write)` or to a peer that shut down reading or closed; `.closed` ("File descriptor
///   was closed by another green thread") to a green thread parked in this socket when it is really
///   closed; `.busy` to a second green thread waiting in the same direction; `CancellationError`.
/// - Zero-length operations: an empty send returns `.completed(0)`; an empty receive consumes
///   nothing but, like `Socket`'s, waits until a receive would make progress (non-blocking:
///   `.wouldBlock(.read)`).
/// - File references: `close()` only marks the socket closed while file objects made from it are
///   open; the last one's release closes it for real.
///
/// `fileDescriptor` is a real descriptor (an eventfd that is readable when a receive may make
/// progress), so `Hub.wait(for: .read, on:)` on it works for non-blocking code; write readiness on
/// it means nothing. Operations that wait must run in a green thread of a hub; the socket uses the
/// hub of its first wait. `close()` may be called from any thread.
public final class ScriptedSocket: ConfigurableRawSocket, @unchecked Sendable {
    private let connection: ScriptedConnection
    /// This end's index: it sends through pipe `side` and receives through pipe `1 - side`.
    private let side: Int
    private var peerSide: Int { 1 - side }

    private init(connection: ScriptedConnection, side: Int) {
        self.connection = connection
        self.side = side
    }

    deinit {
        closeForReal()
    }

    /// A connected pair: what `a` sends reaches `b` as `aToB` scripts it, and what `b` sends
    /// reaches `a` as `bToA` scripts it. Both ends start in `timeout` (the process-wide default,
    /// as `Socket.pair()`'s, unless given).
    ///
    /// - Throws: `IOError` `.invalidArgument` "Timeout value out of range" for a negative timeout;
    ///   `.system` when the descriptors cannot be made (`EMFILE`).
    public static func pair(aToB: Script = Script(), bToA: Script = Script(),
                            timeout: TimeoutMode = .default) throws -> (a: ScriptedSocket, b: ScriptedSocket) {
        let connection = try ScriptedConnection([aToB, bToA], timeout: try timeout.validated())
        return (ScriptedSocket(connection: connection, side: 0), ScriptedSocket(connection: connection, side: 1))
    }

    // MARK: State

    /// The eventfd that becomes readable when a receive may make progress, or -1 once really closed.
    public var fileDescriptor: Int32 {
        connection.state.withLock { $0.ends[side].reallyClosed ? -1 : $0.ends[side].arrival }
    }

    /// The timeout mode, read at each operation.
    public var timeout: TimeoutMode { connection.state.withLock { $0.ends[side].timeout } }

    /// True once `close()` was called on this socket (file objects may keep it open).
    public var isClosed: Bool { connection.state.withLock { $0.ends[side].closeRequested } }

    /// Every byte this end's sends accepted, in order (what the peer receives, before the script
    /// acts on it).
    public var sent: [UInt8] { connection.state.withLock { $0.pipes[side].record } }

    /// How many bytes this end sent that the peer has not received yet.
    public var unreceivedCount: Int { connection.state.withLock { $0.pipes[side].unreadCount } }

    /// Sets the timeout mode (as `Socket.setTimeout`); it applies from the next operation.
    /// - Throws: `IOError` `.invalidArgument` "Timeout value out of range" for a negative
    ///   duration; `.system` `EBADF` once really closed.
    public func setTimeout(_ mode: TimeoutMode) throws {
        let valid = try mode.validated()
        try connection.state.withLock { state in
            guard !state.ends[side].reallyClosed else { throw IOError.system(.badFileDescriptor) }
            state.ends[side].timeout = valid
        }
    }

    // MARK: RawSocket

    /// Receives at most `buffer.count` bytes, as the script delivers them (see the type's
    /// contract and `Script`).
    /// - Returns: `.completed(n)`: n > 0 bytes, or 0 at a clean end of the stream (or for an
    ///   empty buffer); non-blocking: `.wouldBlock(direction)`.
    /// - Throws: `IOError` `.timedOut` "timed out"; `.system` `EBADF` once really closed,
    ///   `ECONNRESET` for a `.reset` ending; `.tlsEOF` for a `.ragged` ending; a scripted error;
    ///   `.closed` when really closed while waiting; `.busy`; `CancellationError`.
    public func receive(into buffer: UnsafeMutableRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        var limit: Deadline?
        while true {
            let (plan, mode) = try connection.state.withLock { state -> (ScriptedPipe.Plan, TimeoutMode) in
                guard !state.ends[side].reallyClosed else { throw IOError.system(.badFileDescriptor) }
                let plan = state.pipes[peerSide].planReceive(count: buffer.count, now: .now)
                if case .transfer(let count) = plan, count > 0 {
                    state.pipes[peerSide].take(count, into: buffer)
                    if state.pipes[peerSide].hasWindow { state.signalRoom(peerSide) }
                }
                return (plan, state.ends[side].timeout)
            }
            switch plan {
            case .transfer(let count):
                return .completed(count)
            case .fail(let error):
                throw error
            case .block(let interest, let until, let spurious):
                if mode == .nonBlocking { return .wouldBlock(interest) }
                let operationLimit = limit ?? mode.deadline(capping: deadline)
                limit = operationLimit
                try await park(on: .arrival, until: operationLimit, stall: until, spurious: spurious)
            }
        }
    }

    /// Sends the prefix of `bytes` that the script's window takes (all of them without one).
    /// - Returns: `.completed(n)` (0 only for empty `bytes`); non-blocking:
    ///   `.wouldBlock(direction)`, having accepted none of them.
    /// - Throws: `IOError` `.timedOut` "timed out"; `.system` `EBADF` once really closed, `EPIPE`
    ///   after our `shutdown(.write)` or when the peer shut down reading or closed; a scripted
    ///   error; `.closed` when really closed while waiting; `.busy`; `CancellationError`.
    public func send(_ bytes: UnsafeRawBufferPointer, deadline: Deadline?) async throws -> IOOutcome {
        var limit: Deadline?
        while true {
            let (plan, mode) = try connection.state.withLock { state -> (ScriptedPipe.Plan, TimeoutMode) in
                let end = state.ends[side]
                guard !end.reallyClosed else { throw IOError.system(.badFileDescriptor) }
                guard !end.writeShut else { throw IOError.system(.brokenPipe) }
                let plan = state.pipes[side].planSend(count: bytes.count)
                if case .transfer(let count) = plan, count > 0 {
                    state.pipes[side].put(bytes, count: count)
                    state.signalArrival(peerSide)
                }
                return (plan, end.timeout)
            }
            switch plan {
            case .transfer(let count):
                return .completed(count)
            case .fail(let error):
                throw error
            case .block(let interest, _, let spurious):
                if mode == .nonBlocking { return .wouldBlock(interest) }
                let operationLimit = limit ?? mode.deadline(capping: deadline)
                limit = operationLimit
                try await park(on: .room, until: operationLimit, stall: nil, spurious: spurious)
            }
        }
    }

    /// Parks until a receive would make progress — bytes, an ending, a scripted error or
    /// would-block, or our own `shutdown(.read)` — or the timeout or `deadline` passes. Returns at
    /// once in non-blocking mode. Consumes nothing and plays no event (a pause starts counting).
    /// - Throws: `IOError` `.timedOut` "timed out"; `.system` `EBADF` once really closed;
    ///   `.closed`; `.busy`; `CancellationError`.
    public func waitUntilReadable(deadline: Deadline?) async throws {
        var limit: Deadline?
        while true {
            let (plan, mode) = try connection.state.withLock { state -> (ScriptedPipe.Plan, TimeoutMode) in
                guard !state.ends[side].reallyClosed else { throw IOError.system(.badFileDescriptor) }
                return (state.pipes[peerSide].planReceive(count: 0, now: .now), state.ends[side].timeout)
            }
            guard case .block(_, let until, _) = plan, mode != .nonBlocking else { return }
            let operationLimit = limit ?? mode.deadline(capping: deadline)
            limit = operationLimit
            try await park(on: .arrival, until: operationLimit, stall: until, spurious: false)
        }
    }

    /// Shuts down one or both directions. `.write`: the peer receives the bytes already sent, then
    /// the script's ending; our later sends fail with `EPIPE`. `.read`: our receives return what
    /// is already in flight, then `.completed(0)`; the peer's sends fail with `EPIPE`. Waiters are
    /// woken to see it.
    /// - Throws: `IOError` `.system` `EBADF` once really closed.
    public func shutdown(_ direction: ShutdownDirection) throws {
        try connection.state.withLock { state in
            guard !state.ends[side].reallyClosed else { throw IOError.system(.badFileDescriptor) }
            if direction != .read {
                state.ends[side].writeShut = true
                state.pipes[side].endSending()
                state.signalArrival(peerSide)
            }
            if direction != .write {
                state.pipes[peerSide].endReceiving()
                state.signalArrival(side)
                state.signalRoom(peerSide)
            }
        }
    }

    /// Closes the socket. Idempotent. While file objects made from it are open, it only marks the
    /// socket closed (it keeps working); otherwise — or at the last file object's release — it
    /// closes for real: green threads parked in it get `IOError` `.closed`, the peer receives the
    /// bytes in flight and then the script's ending, and the peer's sends fail with `EPIPE`.
    public func close() {
        let closeNow = connection.state.withLock { state -> Bool in
            guard !state.ends[side].closeRequested else { return false }
            state.ends[side].closeRequested = true
            return state.ends[side].fileReferences <= 0
        }
        if closeNow { closeForReal() }
    }

    /// Records one more file object made from this socket.
    public func retainFileReference() {
        connection.state.withLock { $0.ends[side].fileReferences += 1 }
    }

    /// Releases a file object's reference; closes for real if `close()` was called and this was
    /// the last one.
    public func releaseFileReference() {
        let closeNow = connection.state.withLock { state -> Bool in
            if state.ends[side].fileReferences > 0 { state.ends[side].fileReferences -= 1 }
            return state.ends[side].closeRequested && state.ends[side].fileReferences == 0
        }
        if closeNow { closeForReal() }
    }

    // MARK: Waiting and closing

    /// Which of this end's eventfds a wait is for.
    private enum Signal {
        case arrival, room
    }

    /// One hub wait on this end's `signal` eventfd, ending at `limit` or, earlier, at the end of a
    /// stall. `spurious` signals the descriptor first, so the wait ends at the next turn of the hub.
    /// - Throws: `IOError` `.timedOut` "timed out" when `limit` passes; the hub's `.closed`,
    ///   `.busy`, `.notOnHub`; `CancellationError`.
    private func park(on signal: Signal, until limit: Deadline, stall: Deadline?, spurious: Bool) async throws {
        let hub = try Hub.requireCurrent()
        let registration = try connection.state.withLock { state -> FDRegistration in
            guard !state.ends[side].reallyClosed else { throw IOError.closedWhileWaiting }
            if let registered = state.ends[side].hub, registered !== hub {
                throw IOError(.notOnHub, "this socket is registered with another hub")
            }
            state.ends[side].hub = hub
            let fd = signal == .arrival ? state.ends[side].arrival : state.ends[side].room
            // Signalled under the lock, as every signal: the descriptor is still open here.
            if spurious { ScriptedConnection.State.signal(fd) }
            if let existing = signal == .arrival ? state.ends[side].arrivalRegistration : state.ends[side].roomRegistration {
                return existing
            }
            let made = try hub.register(fd)
            if signal == .arrival {
                state.ends[side].arrivalRegistration = made
            } else {
                state.ends[side].roomRegistration = made
            }
            return made
        }
        let wakeUp = min(limit, stall ?? .distantFuture)
        do {
            try await hub.wait(for: .read, on: registration, deadline: wakeUp)
        } catch let error as IOError where error.kind == .timedOut {
            // A stall that ends before the operation's own limit just ends the wait.
            if limit <= wakeUp { throw IOError.timedOut() }
        }
    }

    /// Closes this end for real (once): the peer sees our ending and loses its reader, our
    /// waiters are woken with `.closed` by the hub, and the eventfds close.
    private func closeForReal() {
        let taken = connection.state.withLock { state -> End? in
            guard !state.ends[side].reallyClosed else { return nil }
            let end = state.ends[side]
            state.ends[side].reallyClosed = true
            state.ends[side].closeRequested = true
            state.ends[side].arrival = -1
            state.ends[side].room = -1
            state.ends[side].arrivalRegistration = nil
            state.ends[side].roomRegistration = nil
            state.pipes[side].endSending()
            state.pipes[peerSide].endReceiving()
            state.signalArrival(peerSide)
            state.signalRoom(peerSide)
            return end
        }
        guard let end = taken else { return }
        for (fd, registration) in [(end.arrival, end.arrivalRegistration), (end.room, end.roomRegistration)] {
            if let registration, let hub = end.hub {
                // Through the hub, as `Socket` closes: waiters first, then epoll, then the descriptor.
                hub.deregister(registration, closeDescriptor: true)
            } else {
                EventFD(wrapping: fd).close()
            }
        }
    }

    private typealias End = ScriptedConnection.End
}
