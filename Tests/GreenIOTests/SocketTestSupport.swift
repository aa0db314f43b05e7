import Glibc
import Testing
@testable import GreenIO

// Helpers shared by the plain-socket and SocketIO conformance suites (Socket*Tests, SocketIO*Tests).

/// CPython's reference message (`MSG` in test_socket), UTF-8 encoded.
let referenceMessage = bytes("Michael Gilfix was here\u{1234}\r\n")

/// A connected TCP pair over 127.0.0.1: (client, server side of the accepted connection).
/// Must run in a green thread.
func tcpPair() async throws -> (client: Socket, server: Socket) {
    let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
    defer { listener.close() }
    let client = try Socket(family: AF_INET)
    try await client.connect(to: try listener.localAddress())
    let (server, _) = try await listener.accept()
    return (client, server)
}

/// Seconds elapsed since `start`, as a Double.
func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    seconds(ContinuousClock.now - start)
}

/// A duration in seconds, as a Double.
func seconds(_ duration: Duration) -> Double {
    let (s, atto) = duration.components
    return Double(s) + Double(atto) / 1e18
}

/// Yields to the hub until `condition` holds (at most `attempts` turns); true if it came to hold.
/// Used as a handshake, e.g. "the reader is parked on the hub now".
func yieldUntil(attempts: Int = 10_000, _ condition: () -> Bool) async throws -> Bool {
    for _ in 0..<attempts {
        if condition() { return true }
        try await Hub.yield()
    }
    return condition()
}

/// Waiters currently parked on file descriptors of the current hub.
var parkedWaiters: Int { Hub.current?.statistics.fileDescriptorWaiters ?? -1 }

/// Whether `fd` is an open descriptor of this process. Only meaningful for a descriptor that this
/// test still owns (a closed number may be reused at once by a test running in parallel).
func descriptorIsOpen(_ fd: Int32) -> Bool {
    fd >= 0 && fcntl(fd, F_GETFD) != -1
}

/// Whether `fd` has `O_NONBLOCK` set.
func descriptorIsNonBlocking(_ fd: Int32) -> Bool {
    let flags = fcntl(fd, F_GETFL)
    return flags >= 0 && flags & O_NONBLOCK != 0
}

/// Runs `body` and checks that it throws an `IOError` of `kind` (and `errno` / `message` when
/// given); returns the error.
@discardableResult
func expectIOError<T>(_ kind: IOError.Kind, errno: Int32? = nil, message: String? = nil,
                      sourceLocation: SourceLocation = #_sourceLocation,
                      _ body: () async throws -> T) async -> IOError? {
    do {
        let value = try await body()
        Issue.record("expected IOError \(kind), got the result \(value)", sourceLocation: sourceLocation)
        return nil
    } catch let error as IOError {
        #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
        if let errno {
            #expect(error.errno?.rawValue == errno, "\(error)", sourceLocation: sourceLocation)
        }
        if let message {
            #expect(error.message == message, sourceLocation: sourceLocation)
        }
        return error
    } catch {
        Issue.record("expected IOError \(kind), got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Reads from `socket` until the end of the stream.
func readToEnd(_ socket: Socket) async throws -> [UInt8] {
    var result: [UInt8] = []
    while true {
        let chunk = try await socket.recv(65536)
        if chunk.isEmpty { return result }
        result += chunk
    }
}

/// A fresh temporary path for a Unix-domain socket (not created).
func temporaryUnixPath() -> String {
    var template = Array("/tmp/greenio-test-XXXXXX".utf8CString)
    let directory = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    precondition(directory != nil, "mkdtemp failed")
    return String(cString: directory!) + "/socket"
}

/// Waits, polling on the hub for at most `limit`, until `socket`'s descriptor is readable: after
/// the peer closed, until its end of stream has arrived. A test that spawns a child process at that
/// moment can hold a copy of the peer's descriptor until the child's `exec`, which delays the end
/// of stream a non-blocking read right after the close would otherwise expect.
func waitUntilReadableByPoll(_ socket: Socket, within limit: Duration = .seconds(5)) async throws {
    let deadline = Deadline.after(limit)
    while !tlsDescriptorIsReadable(socket.fileDescriptor) {
        guard Deadline.now.nanoseconds < deadline.nanoseconds else { throw IOError.timedOut() }
        try await Hub.sleep(for: .milliseconds(1))
    }
}
