import Glibc
import Testing
@testable import GreenIO

/// Accepts on a listener in any mode: "select" (wait until it is readable), then accept, again while
/// a non-blocking accept would block.
private func acceptWhenReady(_ listener: Socket) async throws -> Socket {
    let deadline = Deadline.after(.seconds(5))
    while true {
        do {
            return try await listener.accept().0
        } catch let error as IOError where error.kind == .wouldBlock {
            try await Hub.current!.wait(for: .read, on: listener.fileDescriptor, deadline: deadline)
        }
    }
}

/// Everything that reads or changes the process-wide default mode (`TimeoutMode.default`,
/// Python's `setdefaulttimeout`): CPY-62, CPY-63, CPY-65, CPY-67 (create_connection), EVT-29, EVT-31.
///
/// The default is process-wide, so these tests run serially, only ever set long positive timeouts
/// (sockets that other suites create meanwhile then merely get a timeout they never reach) and
/// always restore `.blocking`.
@Suite("Socket default timeout", .serialized, .timeLimit(.minutes(1)))
struct SocketDefaultTimeoutTests {
    @Test("CPY-62 default timeout: initially blocking; applies to created, paired, adopted, accepted and connected sockets; reset works")
    func defaultTimeout() async throws {
        #expect(TimeoutMode.default == .blocking)
        try await onHub(limit: .seconds(10)) {
            try TimeoutMode.setDefault(.timeout(.seconds(10)))
            defer { try? TimeoutMode.setDefault(.blocking) }
            #expect(TimeoutMode.default == .timeout(.seconds(10)))
            #expect(TimeoutMode.default.seconds == 10)

            let created = try Socket(family: AF_INET)
            defer { created.close() }
            #expect(created.timeout == .timeout(.seconds(10)))
            let (left, right) = try Socket.pair()
            defer { left.close(); right.close() }
            #expect(left.timeout == .timeout(.seconds(10)))
            #expect(right.timeout == .timeout(.seconds(10)))
            let adopted = try Socket(adopting: Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))
            defer { adopted.close() }
            #expect(adopted.timeout == .timeout(.seconds(10)))

            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            #expect(listener.timeout == .timeout(.seconds(10)))
            let port = try #require(try listener.localAddress().port)
            let connected = try await Socket.connect(host: "127.0.0.1", port: port)
            defer { connected.close() }
            #expect(connected.timeout == .timeout(.seconds(10)))
            let (accepted, _) = try await listener.accept()
            defer { accepted.close() }
            #expect(accepted.timeout == .timeout(.seconds(10)))

            try TimeoutMode.setDefault(.blocking)
            #expect(TimeoutMode.default == .blocking)
            let later = try Socket(family: AF_INET)
            defer { later.close() }
            #expect(later.timeout == .blocking)
            // Sockets made earlier keep their mode.
            #expect(created.timeout == .timeout(.seconds(10)))
        }
    }

    @Test("CPY-62 setDefault validation: a negative timeout is rejected and the default is unchanged")
    func defaultValidation() async throws {
        defer { try? TimeoutMode.setDefault(.blocking) }
        await expectIOError(.invalidArgument, message: "Timeout value out of range") {
            try TimeoutMode.setDefault(.timeout(.seconds(-1)))
        }
        #expect(TimeoutMode.default == .blocking)
        try TimeoutMode.setDefault(.timeout(.seconds(20)))
        // The setter ignores an invalid value instead of trapping.
        TimeoutMode.default = .timeout(.seconds(-1))
        #expect(TimeoutMode.default == .timeout(.seconds(20)))
        TimeoutMode.default = .blocking
        #expect(TimeoutMode.default == .blocking)
    }

    @Test("CPY-63 setBlocking/setTimeout: timeouts none/0/none/0/10/0, isBlocking = timeout != 0, and the fd is O_NONBLOCK in every mode")
    func setBlocking() async throws {
        let socket = try Socket(family: AF_INET)
        defer { socket.close() }
        let fd = socket.fileDescriptor
        func check(_ expected: Double?, _ comment: Comment) {
            #expect(socket.timeout.seconds == expected, comment)
            #expect(socket.isBlocking == (expected != 0), comment)
            // Our documented difference: CPython clears O_NONBLOCK when the timeout is None.
            #expect(socket.isDescriptorNonBlocking, comment)
            #expect(descriptorIsNonBlocking(fd), comment)
        }
        check(nil, "new socket")
        try socket.setBlocking(true)
        check(nil, "setBlocking(true)")
        try socket.setBlocking(false)
        check(0, "setBlocking(false)")
        #expect(socket.timeout == .nonBlocking)
        try socket.setTimeout(seconds: nil)
        check(nil, "setTimeout(nil)")
        try socket.setTimeout(seconds: 0)
        check(0, "setTimeout(0)")
        try socket.setTimeout(seconds: 10)
        check(10, "setTimeout(10)")
        #expect(socket.timeout == .timeout(.seconds(10)))
        try socket.setTimeout(seconds: 0)
        check(0, "setTimeout(0) again")
        try socket.setTimeout(seconds: 5)
        try socket.setBlocking(true)
        check(nil, "setTimeout(5) then setBlocking(true)")
        try socket.setTimeout(seconds: 5)
        try socket.setBlocking(false)
        check(0, "setTimeout(5) then setBlocking(false)")
        try socket.setTimeout(.timeout(.milliseconds(250)))
        check(0.25, "setTimeout(.timeout(250 ms))")
    }

    @Test("CPY-65 / EVT-31 accept: the new socket takes the default mode, not the listener's (timeout 10, non-blocking)")
    func acceptInheritance() async throws {
        try await onHub(limit: .seconds(10)) {
            defer { try? TimeoutMode.setDefault(.blocking) }
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let address = try listener.localAddress()
            for listenerMode in [TimeoutMode.timeout(.seconds(10)), .blocking, .nonBlocking] {
                try listener.setTimeout(listenerMode)
                let client = try Socket(family: AF_INET)
                defer { client.close() }
                try await client.connect(to: address)
                let accepted = try await acceptWhenReady(listener)
                defer { accepted.close() }
                #expect(accepted.timeout == .blocking, "listener \(listenerMode)")
                #expect(accepted.isBlocking)
                #expect(accepted.isDescriptorNonBlocking)
                #expect(try accepted.peerAddress() == (try client.localAddress()))
            }

            // Default 20 s: the accepted socket has 20 s whatever the listener has.
            try TimeoutMode.setDefault(.timeout(.seconds(20)))
            for listenerMode in [TimeoutMode.blocking, .nonBlocking, .timeout(.seconds(5))] {
                try listener.setTimeout(listenerMode)
                let client = try Socket(family: AF_INET)
                defer { client.close() }
                try client.setTimeout(seconds: 5)
                try await client.connect(to: address)
                let accepted = try await acceptWhenReady(listener)
                defer { accepted.close() }
                #expect(accepted.timeout == .timeout(.seconds(20)), "listener \(listenerMode)")
            }
        }
    }

    @Test("CPY-65 / EVT-31 non-blocking listener: no client would block at once; after readiness the accepted socket is blocking")
    func nonBlockingAccept() async throws {
        try await onHub(limit: .seconds(10)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            try listener.setBlocking(false)
            let start = ContinuousClock.now
            await expectIOError(.wouldBlock, errno: EAGAIN) { try await listener.accept() }
            #expect(secondsSince(start) < 1)
            let client = try Socket(family: AF_INET)
            defer { client.close() }
            try await client.connect(to: try listener.localAddress())
            let socket = try await acceptWhenReady(listener)
            defer { socket.close() }
            #expect(socket.timeout == .blocking)
            #expect(socket.isBlocking)
            #expect(socket.isDescriptorNonBlocking)
            #expect(listener.timeout == .nonBlocking)
            // The accepted socket really blocks (waits) rather than reporting would-block.
            let reader = Hub.current!.spawn { try await socket.recv(5) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            try await client.sendAll(bytes("hello"))
            #expect(try await reader.value == bytes("hello"))
        }
    }

    @Test("EVT-29 Socket(adopting:) starts in the default mode whatever the old socket's mode, leaves the fd O_NONBLOCK, and keeps a mode set later")
    func adoptingKeepsNonBlockingDescriptor() async throws {
        try await onHub(limit: .seconds(10)) {
            defer { try? TimeoutMode.setDefault(.blocking) }
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let adopted = try Socket(adopting: a.detach())
            defer { adopted.close() }
            #expect(adopted.timeout == TimeoutMode.default)
            #expect(adopted.timeout == .blocking)
            #expect(adopted.family == AF_UNIX)
            #expect(adopted.isDescriptorNonBlocking)
            #expect(descriptorIsNonBlocking(adopted.fileDescriptor))

            // A descriptor that was blocking is switched to O_NONBLOCK; the mode is the default.
            try TimeoutMode.setDefault(.timeout(.seconds(10)))
            let raw = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #expect(descriptorIsNonBlocking(raw) == false)
            let fromBlocking = try Socket(adopting: raw)
            defer { fromBlocking.close() }
            #expect(fromBlocking.timeout == .timeout(.seconds(10)))
            #expect(fromBlocking.family == AF_INET)
            #expect(descriptorIsNonBlocking(raw))
            try TimeoutMode.setDefault(.blocking)

            // A mode set on the adopted socket sticks and governs its operations.
            try adopted.setTimeout(.nonBlocking)
            await expectIOError(.wouldBlock) { try await adopted.recv(1) }
            await expectIOError(.wouldBlock) { try await adopted.recv(1) }
            #expect(adopted.timeout == .nonBlocking)
            try adopted.setTimeout(seconds: 0.05)
            await expectIOError(.timedOut) { try await adopted.recv(1) }
            #expect(adopted.timeout == .timeout(.milliseconds(50)))
            try await b.sendAll(bytes("x"))
            #expect(try await adopted.recv(1) == bytes("x"))
            #expect(adopted.timeout == .timeout(.milliseconds(50)))
            #expect(adopted.isDescriptorNonBlocking)

            // Adopting something that is not a socket fails.
            await expectIOError(.system, errno: EBADF) { try Socket(adopting: -1) }
        }
    }

    @Test("CPY-67 create_connection: explicit timeout kept, default used when omitted, explicit .blocking despite a default")
    func createConnectionTimeouts() async throws {
        try await onHub(limit: .seconds(10)) {
            defer { try? TimeoutMode.setDefault(.blocking) }
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try #require(try listener.localAddress().port)

            let explicit = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(30)))
            defer { explicit.close() }
            #expect(explicit.timeout == .timeout(.seconds(30)))
            let omitted = try await Socket.connect(host: "127.0.0.1", port: port)
            defer { omitted.close() }
            #expect(omitted.timeout == .blocking)

            try TimeoutMode.setDefault(.timeout(.seconds(10)))
            let withDefault = try await Socket.connect(host: "127.0.0.1", port: port)
            defer { withDefault.close() }
            #expect(withDefault.timeout == .timeout(.seconds(10)))
            let explicitBlocking = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .blocking)
            defer { explicitBlocking.close() }
            #expect(explicitBlocking.timeout == .blocking)
            let explicitOther = try await Socket.connect(host: "localhost", port: port, timeout: .timeout(.seconds(3)))
            defer { explicitOther.close() }
            #expect(explicitOther.timeout == .timeout(.seconds(3)))
            try TimeoutMode.setDefault(.blocking)

            // All of them are connected to the listener.
            for _ in 0..<5 {
                let (accepted, _) = try await listener.accept()
                accepted.close()
            }
            await expectIOError(.invalidArgument, message: "Timeout value out of range") {
                try await Socket.connect(host: "127.0.0.1", port: port, timeout: .timeout(.seconds(-1)))
            }
        }
    }
}
