import CGreenIO
import Glibc
import Synchronization
import Testing
@testable import GreenIO

// Helpers for the hub tests. Names carry a `hub` prefix so they cannot clash with helpers that
// other test files define.

/// A mutable value shared between green threads of one hub (they all run on the hub thread, one at
/// a time), or handed from one thread to another across a happens-before edge (a task's result).
final class HubTestBox<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// An error thrown on purpose by tests.
struct HubTestError: Error, Equatable {
    let code: Int
}

/// Seconds elapsed since `start` (a `Deadline.now.nanoseconds` value), on the hub's clock.
func hubSeconds(since start: UInt64) -> Double {
    Double(Deadline.now.nanoseconds - start) / 1e9
}

/// The error a result holds, or nil.
func hubError<T>(_ result: Result<T, any Error>) -> (any Error)? {
    if case .failure(let error) = result { return error }
    return nil
}

/// The `IOError` kind a result failed with, or nil.
func hubIOErrorKind<T>(_ result: Result<T, any Error>) -> IOError.Kind? {
    (hubError(result) as? IOError)?.kind
}

/// True if the result failed with `CancellationError`.
func hubIsCancellation<T>(_ result: Result<T, any Error>) -> Bool {
    hubError(result) is CancellationError
}

/// A connected pair of non-blocking Unix stream socket descriptors, not registered anywhere.
func hubRawSocketPair() -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    let result = socketpair(AF_UNIX, type, 0, &fds)
    precondition(result == 0, "socketpair failed: errno \(errno)")
    return (fds[0], fds[1])
}

/// A non-blocking pipe: (read end, write end).
func hubRawPipe() -> (Int32, Int32) {
    var fds: [Int32] = [-1, -1]
    let result = pipe(&fds)
    precondition(result == 0, "pipe failed: errno \(errno)")
    for fd in fds {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
    }
    return (fds[0], fds[1])
}

/// Writes an ASCII string to a socket or pipe without blocking; returns the send(2)/write(2)
/// result. A socket whose peer is gone gives EPIPE, not SIGPIPE.
@discardableResult
func hubWrite(_ fd: Int32, _ text: String) -> Int {
    let data = Array(text.utf8)
    return data.withUnsafeBytes { buffer in
        let sent = Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
        if sent < 0 && errno == ENOTSOCK { return Glibc.write(fd, buffer.baseAddress, buffer.count) }
        return sent
    }
}

/// Reads what is there (non-blocking) as a string; nil if the read failed (EAGAIN, EBADF, …).
func hubRead(_ fd: Int32, max: Int = 256) -> String? {
    var buffer = [UInt8](repeating: 0, count: max)
    let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    guard count >= 0 else { return nil }
    return String(decoding: buffer[..<count], as: UTF8.self)
}

/// The (device, inode) of the open file behind `fd`, or nil if `fd` is not open.
func hubFileIdentity(_ fd: Int32) -> [UInt64]? {
    var info = stat()
    guard fstat(fd, &info) == 0 else { return nil }
    return [UInt64(info.st_dev), UInt64(info.st_ino)]
}

/// True if the peer of a socket descriptor reports end of stream (the other end was really closed).
func hubPeerSeesEOF(_ fd: Int32) -> Bool {
    // Within a second, not at once: a child process another test forks at that moment holds a
    // copy of the closed end until it execs, and the end of stream shows only after that.
    let deadline = Deadline.after(.seconds(1))
    var byte: UInt8 = 0
    while true {
        let n = Glibc.recv(fd, &byte, 1, Int32(MSG_DONTWAIT))
        if n == 0 { return true }
        guard n < 0, errno == EAGAIN || errno == EINTR, !deadline.hasPassed else { return false }
        usleep(1_000)
    }
}

/// CPU time consumed by the calling thread, in seconds.
func hubThreadCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Polls `condition` from a green thread (sleeping 1 ms between checks) until it holds; throws
/// `TestTimedOut` after `limit`.
func hubUntil(limit: Duration = .seconds(5), _ condition: () -> Bool) async throws {
    let deadline = Deadline.after(limit)
    while !condition() {
        if deadline.hasPassed { throw TestTimedOut(limit: limit) }
        try await Hub.sleep(for: .milliseconds(1))
    }
}

/// Polls `condition` from an ordinary task (not on a hub) until it holds; throws after `limit`.
func hubEventually(limit: Duration = .seconds(5), _ condition: @Sendable () -> Bool) async throws {
    let deadline = Deadline.after(limit)
    while !condition() {
        if deadline.hasPassed { throw TestTimedOut(limit: limit) }
        try await Task.sleep(for: .milliseconds(2))
    }
}

/// Runs `operation` in an unstructured task and returns its result, or throws `TestTimedOut` after
/// `limit` without waiting for the operation (which may be uncancellable, like a blocked thread).
func hubWithLimit<T: Sendable>(_ limit: Duration,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let once = HubOnceContinuation<T>()
    return try await withCheckedThrowingContinuation { continuation in
        once.set(continuation)
        let timer = Task.detached {
            try? await Task.sleep(for: limit)
            once.finish(.failure(TestTimedOut(limit: limit)))
        }
        Task.detached {
            do { once.finish(.success(try await operation())) } catch { once.finish(.failure(error)) }
            timer.cancel()
        }
    }
}

/// A continuation that the first of several finishers resumes; later ones are ignored.
final class HubOnceContinuation<T: Sendable>: Sendable {
    private let state = Mutex<CheckedContinuation<T, any Error>?>(nil)

    func set(_ continuation: CheckedContinuation<T, any Error>) {
        state.withLock { $0 = continuation }
    }

    func finish(_ result: Result<T, any Error>) {
        let continuation = state.withLock { box -> CheckedContinuation<T, any Error>? in
            defer { box = nil }
            return box
        }
        continuation?.resume(with: result)
    }
}

/// The result of a task, or `TestTimedOut` if it has not finished within `limit`.
func hubResult<T: Sendable>(of task: Task<T, any Error>, limit: Duration = .seconds(10)) async -> Result<T, any Error> {
    do { return .success(try await hubWithLimit(limit) { try await task.value }) } catch { return .failure(error) }
}

private final class HubThreadStart: @unchecked Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}

/// Starts a detached OS thread (not one of Swift's concurrency threads) running `body`.
func hubStartThread(_ body: @escaping @Sendable () -> Void) {
    let context = Unmanaged.passRetained(HubThreadStart(body)).toOpaque()
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, { raw in
        let start = Unmanaged<HubThreadStart>.fromOpaque(raw!).takeRetainedValue()
        start.body()
        return nil
    }, context)
    precondition(result == 0, "pthread_create failed: \(result)")
    pthread_detach(thread)
}

/// Runs a blocking `body` on a new OS thread and returns its result (or throws its error, or
/// `TestTimedOut` after `limit`).
func hubOnNewThread<T: Sendable>(limit: Duration = .seconds(30),
                                 _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await hubWithLimit(limit) {
        try await withCheckedThrowingContinuation { continuation in
            hubStartThread { continuation.resume(with: Result { try body() }) }
        }
    }
}

extension Hub {
    /// Closes a raw descriptor the way a socket would: through the hub if it is registered here
    /// (waiters woken, epoll entry removed), else directly. Hub thread only.
    func hubTestClose(_ fd: Int32) {
        if fd >= 0, Int(fd) < registrations.count, let registration = registrations[Int(fd)] {
            deregister(registration, closeDescriptor: true)
        } else {
            _ = Glibc.close(fd)
        }
    }
}

/// The outcome of an async throwing body, as a `Result`.
func hubOutcome<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

/// Sends to a non-blocking socket until its buffers are full (the next send would block).
func hubFill(_ fd: Int32) {
    let chunk = [UInt8](repeating: 7, count: 65536)
    while chunk.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }) > 0 {}
}
