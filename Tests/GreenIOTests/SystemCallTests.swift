import Glibc
import Synchronization
import Testing
@testable import GreenIO

/// Counts deliveries of the signal the interrupted-read test sends (touched before the handler is
/// installed, so the handler never runs a lazy global initialiser). SIGWINCH, not the hub tests'
/// SIGURG, so the two tests can run at the same time.
let systemCallSignalDeliveries = Atomic<Int>(0)

/// The one system-call helper, `valueOrErrno(retryOnInterrupt:_:)`, and the wrappers built on it.
@Suite("System calls", .timeLimit(.minutes(1)))
struct SystemCallTests {
    /// A call that fails with `errno` set to each of `failures` in turn, then returns `value`.
    final class ScriptedCall {
        var failures: [Int32]
        let value: Int
        var calls = 0

        init(failing failures: [Int32], then value: Int) {
            self.failures = failures
            self.value = value
        }

        func callAsFunction() -> Int {
            calls += 1
            guard !failures.isEmpty else { return value }
            errno = failures.removeFirst()
            return -1
        }
    }

    @Test("a success is returned as is, zero included, whatever errno holds")
    func success() {
        errno = EBADF
        #expect(valueOrErrno(retryOnInterrupt: false) { 0 } == .success(0))
        #expect(valueOrErrno(retryOnInterrupt: true) { Int32(7) } == .success(7))
        if case .failure = nothingOrErrno(retryOnInterrupt: false, { Int32(0) }) { Issue.record("0 is a success") }
    }

    @Test("a failure carries the errno the call set, read right after it")
    func failureCapturesErrno() {
        let call = ScriptedCall(failing: [ECONNRESET], then: 5)
        #expect(valueOrErrno(retryOnInterrupt: true) { call() } == .failure(.connectionReset))
        #expect(call.calls == 1)
    }

    @Test("EINTR is retried when asked, and returned like any error when not")
    func interruptRetry() {
        let retried = ScriptedCall(failing: [EINTR, EINTR], then: 3)
        #expect(valueOrErrno(retryOnInterrupt: true) { retried() } == .success(3))
        #expect(retried.calls == 3)

        let notRetried = ScriptedCall(failing: [EINTR], then: 3)
        #expect(valueOrErrno(retryOnInterrupt: false) { notRetried() } == .failure(.interrupted))
        #expect(notRetried.calls == 1)

        // Only EINTR is retried: would-block ends the call at once, even with the retry.
        let wouldBlock = ScriptedCall(failing: [EINTR, EAGAIN], then: 3)
        #expect(valueOrErrno(retryOnInterrupt: true) { wouldBlock() } == .failure(.wouldBlock))
        #expect(wouldBlock.calls == 2)
    }

    @Test("orThrow turns the error number into GreenIO's IOError (EAGAIN is would-block)")
    func orThrow() throws {
        #expect(try Result<Int, Errno>.success(4).orThrow() == 4)
        let refused = #expect(throws: IOError.self) { try Result<Int, Errno>.failure(.connectionRefused).orThrow() }
        #expect(refused?.kind == .system)
        #expect(refused?.errno == .connectionRefused)
        let wouldBlock = #expect(throws: IOError.self) { try Result<Int, Errno>.failure(.wouldBlock).orThrow() }
        #expect(wouldBlock?.kind == .wouldBlock)
    }

    @Test("a blocking read that a signal interrupts: made again with the retry, EINTR without")
    func signalInterruptedRead() async throws {
        _ = systemCallSignalDeliveries.load(ordering: .relaxed)
        var action = sigaction()
        action.__sigaction_handler.sa_handler = { _ in systemCallSignalDeliveries.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0  // no SA_RESTART: the kernel ends the read with EINTR
        var previous = sigaction()
        // SIGWINCH is ignored by default, so restoring the default later is harmless even if a
        // signal were still in flight.
        #expect(sigaction(SIGWINCH, &action, &previous) == 0)
        defer { sigaction(SIGWINCH, &previous, nil) }

        for retry in [false, true] {
            var fds: [Int32] = [-1, -1]
            #expect(pipe(&fds) == 0)  // blocking: the read waits in the kernel
            let (readEnd, writeEnd) = (fds[0], fds[1])
            defer { close(readEnd); close(writeEnd) }
            let state = InterruptedReadState()
            let reader = try TestThread {
                // A thread of its own, which receives SIGWINCH (the test's thread blocks it).
                var set = sigset_t()
                sigemptyset(&set)
                sigaddset(&set, SIGWINCH)
                pthread_sigmask(SIG_UNBLOCK, &set, nil)
                state.thread.withLock { $0 = pthread_self() }
                var byte: UInt8 = 0
                let result = valueOrErrno(retryOnInterrupt: retry) { () -> Int in
                    state.attempts.add(1, ordering: .relaxed)
                    return Glibc.read(readEnd, &byte, 1)
                }
                pthread_sigmask(SIG_BLOCK, &set, nil)
                state.result.withLock { $0 = result }
                state.returned.store(true, ordering: .releasing)
            }
            // Signal the reading thread until a signal has surely found it inside the read: the
            // read returned (no retry) or was made a second time (retry). A signal that comes
            // before the read starts just runs the handler.
            let deadline = Deadline.after(.seconds(20))
            while !deadline.hasPassed {
                try await Task.sleep(for: .milliseconds(10))
                if retry ? state.attempts.load(ordering: .acquiring) >= 2 : state.returned.load(ordering: .acquiring) { break }
                if let thread = state.thread.withLock({ $0 }) { pthread_kill(thread, SIGWINCH) }
            }
            if retry {
                let returnedEarly = state.returned.load(ordering: .acquiring)
                #expect(!returnedEarly, "an interrupted read must not return with the retry")
                var byte: UInt8 = 42
                #expect(write(writeEnd, &byte, 1) == 1)
                reader.join()
                #expect(state.result.withLock { $0 } == .success(1))
                #expect(state.attempts.load(ordering: .acquiring) >= 2)
            } else {
                reader.join()
                #expect(state.result.withLock { $0 } == .failure(.interrupted))
                #expect(state.attempts.load(ordering: .acquiring) == 1)
            }
        }
        #expect(systemCallSignalDeliveries.load(ordering: .relaxed) >= 2)
    }

    /// What the interrupted read shares with the test: the reading thread, its attempts, whether
    /// the read returned, and its result.
    final class InterruptedReadState: Sendable {
        let thread = Mutex<pthread_t?>(nil)
        let attempts = Atomic<Int>(0)
        let returned = Atomic<Bool>(false)
        let result = Mutex<Result<Int, Errno>?>(nil)
    }

    @Test("the socket wrappers: a socketpair sends and receives; would-block and a closed peer come back as Errno")
    func socketWrappers() throws {
        var fds: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        try SystemCall.socketPair(family: AF_UNIX, type: type, &fds).orThrow()
        let (a, b) = (fds[0], fds[1])
        defer { SystemCall.close(a) }
        var buffer = [UInt8](repeating: 0, count: 8)
        let empty = buffer.withUnsafeMutableBytes { SystemCall.receive(a, $0.baseAddress, $0.count) }
        #expect(empty == .failure(.wouldBlock))
        let sent = [UInt8]("hi".utf8).withUnsafeBytes { SystemCall.send(b, $0.baseAddress, $0.count) }
        #expect(sent == .success(2))
        let received = buffer.withUnsafeMutableBytes { SystemCall.receive(a, $0.baseAddress, $0.count) }
        #expect(received == .success(2))
        #expect(Array(buffer.prefix(2)) == Array("hi".utf8))
        SystemCall.close(b)
        let end = buffer.withUnsafeMutableBytes { SystemCall.receive(a, $0.baseAddress, $0.count) }
        #expect(end == .success(0))
        // MSG_NOSIGNAL: a send to a vanished peer is EPIPE, and the process lives on.
        let toGone = [UInt8]("x".utf8).withUnsafeBytes { SystemCall.send(a, $0.baseAddress, $0.count) }
        #expect(toGone == .failure(.brokenPipe))
        #expect(SystemCall.statusFlags(-1) == .failure(.badFileDescriptor))
    }
}

/// An OS thread of its own (neither the concurrency pool's nor the blocking pool's, which other
/// tests keep busy) for a test that blocks in a system call.
final class TestThread: @unchecked Sendable {
    private var thread = pthread_t()

    /// Starts `body` on a new thread.
    /// - Throws: `IOError` `.system` when the thread cannot be created.
    init(_ body: @escaping @Sendable () -> Void) throws {
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            throw IOError.system(Errno(rawValue: result))
        }
    }

    /// Waits for the thread to finish (once).
    func join() {
        pthread_join(thread, nil)
    }

    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
