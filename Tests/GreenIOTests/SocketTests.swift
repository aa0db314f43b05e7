import Glibc
import Testing
@testable import GreenIO

/// Plain sockets: addresses and families, create_connection errors, settimeout validation, fd state,
/// hub registration and the rules for several green threads on one socket (EVT-09, EVT-22, EVT-28,
/// EVT-30, EVT-54, EVT-58, CPY-64, CPY-67).
@Suite("Socket", .timeLimit(.minutes(1)))
struct SocketTests {
    @Test("an unnamed Unix socket's address describes itself as unix:unnamed, a named one as its path")
    func unnamedUnixDescription() throws {
        let (a, b) = try Socket.pair()
        defer { a.close(); b.close() }
        #expect(try a.localAddress() == .unix(path: ""))
        #expect(try a.localAddress().description == "unix:unnamed")
        #expect(SocketAddress.unix(path: "/run/greenio.sock").description == "/run/greenio.sock")
    }

    @Test("an IPv4 peer's host is what inet_ntop writes, for every octet width", arguments: [
        "0.0.0.0", "127.0.0.1", "255.255.255.255", "10.0.100.9", "1.20.199.5", "99.100.101.255",
    ])
    func ipv4Host(_ text: String) throws {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(7878).bigEndian
        #expect(inet_pton(AF_INET, text, &address.sin_addr) == 1)
        let decoded = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                SocketAddress($0, length: socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(decoded == .ipv4(host: text, port: 7878))
        #expect(decoded?.description == "\(text):7878")
    }

    @Test("EVT-09 recv returns bytes, recvInto returns a count and fills the buffer")
    func returnTypes() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            #expect(try await b.send(bytes("hello world")) == 11)
            let received: [UInt8] = try await a.recv(5)
            #expect(received == bytes("hello"))
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 1)
            defer { buffer.deallocate() }
            let count: Int = try await a.recvInto(buffer)
            #expect(count == 6)
            #expect(Array(buffer[..<count]) == bytes(" world"))
            await expectIOError(.invalidArgument, message: "negative buffersize in recv") { try await a.recv(-1) }
        }
    }

    @Test("CPY-64 / EVT-22 setTimeout validation: messages for -1, NaN, inf; 1 → 1.0; -0.0 → 0; 1e-10 → 1e-9; nil blocks")
    func setTimeoutValidation() async throws {
        let socket = try Socket(family: AF_INET)
        defer { socket.close() }
        try socket.setTimeout(seconds: 7)
        await expectIOError(.invalidArgument, message: "Timeout value out of range") { try socket.setTimeout(seconds: -1) }
        await expectIOError(.invalidArgument, message: "Invalid value NaN (not a number)") {
            try socket.setTimeout(seconds: .nan)
        }
        await expectIOError(.invalidArgument, message: "timestamp out of range for platform time_t") {
            try socket.setTimeout(seconds: .infinity)
        }
        await expectIOError(.invalidArgument, message: "Timeout value out of range") {
            try socket.setTimeout(.timeout(.seconds(-1)))
        }
        // A refused value leaves the mode alone.
        #expect(socket.timeout == .timeout(.seconds(7)))
        try socket.setTimeout(seconds: 1)
        #expect(socket.timeout.seconds == 1.0)
        try socket.setTimeout(seconds: -0.0)
        #expect(socket.timeout == .nonBlocking)
        #expect(socket.timeout.seconds == 0)
        try socket.setTimeout(seconds: 1e-10)
        #expect(socket.timeout == .timeout(.nanoseconds(1)))
        #expect(socket.timeout.seconds == 1e-9)
        try socket.setTimeout(.timeout(.zero))
        #expect(socket.timeout == .nonBlocking)
        try socket.setTimeout(.timeout(Duration(secondsComponent: 0, attosecondsComponent: 100_000_000)))
        #expect(socket.timeout == .timeout(.nanoseconds(1)))
        try socket.setTimeout(seconds: nil)
        #expect(socket.timeout == .blocking)
        #expect(try TimeoutMode(seconds: 2.5) == .timeout(.milliseconds(2500)))
    }

    @Test("EVT-28 green sockets are O_NONBLOCK at the OS level however they were made, in every mode")
    func descriptorsAreNonBlocking() async throws {
        try await onHub(limit: .seconds(10)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try #require(try listener.localAddress().port)
            let created = try Socket(family: AF_INET6)
            defer { created.close() }
            let connected = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .blocking)
            defer { connected.close() }
            let (accepted, _) = try await listener.accept()
            defer { accepted.close() }
            let (left, right) = try Socket.pair()
            defer { left.close(); right.close() }
            let adopted = try Socket(adopting: Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0))
            defer { adopted.close() }
            for socket in [listener, created, connected, accepted, left, right, adopted] {
                for mode in [TimeoutMode.blocking, .nonBlocking, .timeout(.seconds(1))] {
                    try socket.setTimeout(mode)
                    #expect(socket.isDescriptorNonBlocking, "fd \(socket.fileDescriptor) in \(mode)")
                    #expect(descriptorIsNonBlocking(socket.fileDescriptor), "fd \(socket.fileDescriptor) in \(mode)")
                }
            }
        }
    }

    @Test("EVT-30 accepted descriptors are registered with the hub, in blocking and non-blocking accept")
    func acceptRegisters() async throws {
        try await onHub(limit: .seconds(10)) {
            let hub = Hub.current!
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let address = try listener.localAddress()
            for mode in [TimeoutMode.blocking, .nonBlocking] {
                let client = try Socket(family: AF_INET)
                defer { client.close() }
                try await client.connect(to: address)
                try listener.setTimeout(mode)
                try await hub.wait(for: .read, on: listener.fileDescriptor, deadline: .after(.seconds(5)))
                let (accepted, _) = try await listener.accept()
                defer { accepted.close() }
                let registration = try #require(accepted.registration)
                #expect(registration.fileDescriptor == accepted.fileDescriptor)
                #expect(registration.hub === hub)
                #expect(hub.registrations[Int(accepted.fileDescriptor)] === registration)
            }
        }
    }

    @Test("EVT-30 accept reusing a descriptor number closed behind the hub's back: the old waiter gets .closed, the new socket works")
    func acceptReusesStaleNumber() async throws {
        try await onHub(limit: .seconds(10)) {
            let hub = Hub.current!
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let address = try listener.localAddress()
            // The number is the lowest free one when accept runs, unless another test takes it first:
            // try a few times.
            var done = false
            for _ in 0..<5 where !done {
                let client = try Socket(family: AF_INET)
                defer { client.close() }
                try await client.connect(to: address)
                // An idle socketpair end: registered, never ready.
                var fds: [Int32] = [-1, -1]
                try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0)
                let raw = fds[0]
                defer { Glibc.close(fds[1]) }
                let stale = try hub.register(raw)
                let oldWaiter = hub.spawn {
                    await expectIOError(.closed) { try await hub.wait(for: .read, on: stale) }
                }
                #expect(try await yieldUntil { parkedWaiters == 1 })
                Glibc.close(raw)  // behind the hub's back
                let (accepted, _) = try await listener.accept()
                defer { accepted.close() }
                guard accepted.fileDescriptor == raw else {
                    // Another descriptor took the number: retire the stale registration and retry.
                    hub.deregister(stale, closeDescriptor: false)
                    _ = try await oldWaiter.value
                    continue
                }
                done = true
                #expect(try await oldWaiter.value?.errno == .badFileDescriptor)
                #expect(stale.isClosed)
                #expect(accepted.registration !== stale)
                // The new socket waits and wakes normally on the reused number.
                let reader = hub.spawn { try await accepted.recv(10) }
                #expect(try await yieldUntil { parkedWaiters == 1 })
                try await client.sendAll(bytes("reused"))
                #expect(try await reader.value == bytes("reused"))
                try await accepted.sendAll(bytes("back"))
                #expect(try await client.recv(10) == bytes("back"))
            }
            #expect(done, "accept never reused the number closed behind the hub's back")
        }
    }

    @Test("EVT-54 a second reader on a socket fails at once with .busy; the first still gets its byte")
    func secondReaderBusy() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let first = Hub.current!.spawn { try await a.recv(1) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            let error = await expectIOError(.busy) { try await a.recv(1) }
            #expect(error?.errno == Errno(rawValue: EBUSY))
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            await expectIOError(.busy) { try await file.read(1) }
            #expect(file.timeoutOccurred == false)
            try await b.sendAll(bytes("z"))
            #expect(try await first.value == bytes("z"))
            // With the first reader gone, reading works again.
            try await b.sendAll(bytes("y"))
            #expect(try await file.read(1) == bytes("y"))
        }
    }

    @Test("EVT-54 a second writer on a full socket fails at once with .busy; the first finishes once the peer reads")
    func secondWriterBusy() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let data = [UInt8](repeating: 3, count: 4 << 20)
            let first = Hub.current!.spawn { try await a.sendAll(data) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            await expectIOError(.busy) { try await a.sendAll([1]) }
            var received = 0
            while received < data.count { received += try await b.recv(1 << 20).count }
            try await first.value
            #expect(received == data.count)
        }
    }

    @Test("CPY-25 a writer parked on a full socket is woken with an error when the peer goes away (never hangs)")
    func parkedWriterWokenByPeerClose() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setOption(.sendBufferSize, 4096)
            try server.setOption(.receiveBufferSize, 4096)
            let writer = Hub.current!.spawn { () async throws -> IOError? in
                do {
                    try await client.sendAll([UInt8](repeating: 9, count: 32 << 20))
                    return nil
                } catch let error as IOError {
                    return error
                }
            }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            server.close()  // unread data: the peer resets the connection
            let error = try #require(try await writer.value)
            #expect(error.kind == .system, "\(error)")
            #expect(error.errno == .connectionReset || error.errno == .brokenPipe, "\(error)")
        }
    }

    @Test("EVT-58 full duplex: one green thread sendAll's 10× the buffer size while another reads on the same socket")
    func fullDuplex() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try server.setOption(.sendBufferSize, 16384)
            try client.setOption(.receiveBufferSize, 16384)
            let bufferSize = max(try server.intOption(.sendBufferSize), try client.intOption(.receiveBufferSize))
            let total = 10 * bufferSize
            let payload = (0..<total).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let hub = Hub.current!
            let writer = hub.spawn { try await server.sendAll(payload) }
            let reader = hub.spawn { () async throws -> [UInt8] in
                var got: [UInt8] = []
                while got.count < 11 { got += try await server.recv(11 - got.count) }
                return got
            }
            // Both green threads are parked on the one socket, one per direction.
            #expect(try await yieldUntil { parkedWaiters == 2 })
            try await client.sendAll(bytes("hello world"))
            #expect(try await reader.value == bytes("hello world"))
            var received: [UInt8] = []
            received.reserveCapacity(total)
            while received.count < total { received += try await client.recv(1 << 16) }
            try await writer.value
            #expect(received.count == total)
            #expect(received == payload)
        }
    }

    @Test("a socket made off the hub registers with the hub of the green thread that first waits on it")
    func lazyRegistration() async throws {
        let (a, b) = try Socket.pair()
        defer { a.close(); b.close() }
        #expect(a.registration == nil)
        let got = try await onHub(limit: .seconds(10)) { () async throws -> [UInt8] in
            let reader = Hub.current!.spawn { try await a.recv(10) }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            #expect(a.registration?.hub === Hub.current)
            try await b.sendAll(bytes("late"))
            let got = try await reader.value
            // Close here, while the hub that holds the registration runs.
            a.close()
            return got
        }
        #expect(got == bytes("late"))
        #expect(a.fileDescriptor == -1)
    }

    @Test("IPv6: a round trip over [::1]; addresses are IPv6")
    func ipv6RoundTrip() async throws {
        try await onHub(limit: .seconds(10)) {
            let listener = try await Socket.listen(host: "::1", port: 0)
            defer { listener.close() }
            #expect(listener.family == AF_INET6)
            let local = try listener.localAddress()
            let port = try #require(local.port)
            #expect(local == .ipv6(host: "::1", port: port))
            #expect(local.description == "[::1]:\(port)")
            let client = try await Socket.connect(host: "::1", port: port, timeout: .blocking)
            defer { client.close() }
            #expect(client.family == AF_INET6)
            let (server, peer) = try await listener.accept()
            defer { server.close() }
            #expect(peer == (try client.localAddress()))
            #expect(try client.peerAddress() == local)
            try await client.sendAll(bytes("ping6"))
            #expect(try await server.recv(10) == bytes("ping6"))
            try await server.sendAll(bytes("pong6"))
            #expect(try await client.recv(10) == bytes("pong6"))
        }
    }

    @Test("Unix path: bind to a temporary path, connect, round trip; addresses are the path")
    func unixPathRoundTrip() async throws {
        let path = temporaryUnixPath()
        defer {
            unlink(path)
            rmdir(String(path.dropLast("/socket".count)))
        }
        try await onHub(limit: .seconds(10)) {
            let listener = try Socket(family: AF_UNIX)
            defer { listener.close() }
            try listener.bind(to: .unix(path: path))
            try listener.listen()
            #expect(try listener.localAddress() == .unix(path: path))
            let client = try Socket(family: AF_UNIX)
            defer { client.close() }
            try await client.connect(to: .unix(path: path))
            #expect(try client.peerAddress() == .unix(path: path))
            let (server, _) = try await listener.accept()
            defer { server.close() }
            #expect(server.family == AF_UNIX)
            let file = try server.makeSocketIO(mode: "rwb")
            defer { file.close() }
            try await client.sendAll(bytes("over a path\n"))
            #expect(try await file.readLine() == bytes("over a path\n"))
            #expect(try await file.write(bytes("ok")) == 2)
            #expect(try await client.recv(10) == bytes("ok"))
            // The path is taken while the listener exists.
            let second = try Socket(family: AF_UNIX)
            defer { second.close() }
            await expectIOError(.system, errno: EADDRINUSE) { try second.bind(to: .unix(path: path)) }
        }
    }

    @Test("Address resolution: localhost gives 127.0.0.1; numeric hosts need no lookup; unknown names and bad ports fail")
    func resolution() async throws {
        try await onHub(limit: .seconds(30)) {
            let addresses = try await SocketAddress.resolve(host: "localhost", port: 80)
            #expect(addresses.contains(.ipv4(host: "127.0.0.1", port: 80)))
            #expect(addresses.allSatisfy { $0.port == 80 })
            #expect(try await SocketAddress.resolve(host: "::1", port: 7) == [.ipv6(host: "::1", port: 7)])
            #expect(try await SocketAddress.resolve(host: "127.0.0.1", port: 0) == [.ipv4(host: "127.0.0.1", port: 0)])
            let error = await expectIOError(.addressResolution) {
                try await SocketAddress.resolve(host: "nonexistent.invalid", port: 80)
            }
            #expect(error?.code == EAI_NONAME)
            #expect(error?.message == String(cString: gai_strerror(EAI_NONAME)))
            await expectIOError(.addressResolution) { try await Socket.connect(host: "nonexistent.invalid", port: 80) }
            await expectIOError(.addressResolution) { try await Socket.listen(host: "nonexistent.invalid", port: 0) }
            await expectIOError(.invalidArgument, message: "port must be 0-65535.") {
                try await SocketAddress.resolve(host: "localhost", port: 65536)
            }
            await expectIOError(.invalidArgument) { try SocketAddress(numericHost: "localhost", port: 1) }
            await expectIOError(.invalidArgument) {
                try await Socket(family: AF_INET).connect(to: .ipv4(host: "not an address", port: 1))
            }
        }
    }

    @Test("CPY-67 create_connection: refused gives ECONNREFUSED; allErrors gives one error per address; a timeout surfaces unchanged")
    func createConnectionErrors() async throws {
        try await onHub(limit: .seconds(20)) {
            // A port with no listener: bind one, note it, close it.
            let probe = try await Socket.listen(host: "127.0.0.1", port: 0)
            let port = try #require(try probe.localAddress().port)
            probe.close()
            await expectIOError(.system, errno: ECONNREFUSED) { try await Socket.connect(host: "127.0.0.1", port: port) }
            let viaName = try await SocketAddress.resolve(host: "localhost", port: port)
            do {
                _ = try await Socket.connect(host: "localhost", port: port, allErrors: true)
                Issue.record("connected to a closed port")
            } catch let failures as ConnectionFailures {
                #expect(failures.errors.count == viaName.count)
                for error in failures.errors {
                    #expect((error as? IOError)?.errno == .connectionRefused, "\(error)")
                }
                #expect(failures.description.hasPrefix("create_connection failed"))
            }
            let plain = try Socket(family: AF_INET)
            defer { plain.close() }
            #expect(try await plain.connectEx(to: .ipv4(host: "127.0.0.1", port: port)) == ECONNREFUSED)

            // A connect timeout is reported as itself (not wrapped), also inside ConnectionFailures.
            let listener = try Socket(family: AF_INET)
            defer { listener.close() }
            try listener.bind(to: .ipv4(host: "127.0.0.1", port: 0))
            try listener.listen(backlog: 0)
            let fullPort = try #require(try listener.localAddress().port)
            let first = try await Socket.connect(host: "127.0.0.1", port: fullPort, timeout: .timeout(.seconds(5)))
            defer { first.close() }
            var fillers: [Socket] = []
            defer { fillers.forEach { $0.close() } }
            for _ in 0..<3 {
                let filler = try Socket(family: AF_INET)
                try filler.setTimeout(.nonBlocking)
                _ = try await filler.connectEx(to: .ipv4(host: "127.0.0.1", port: fullPort))
                fillers.append(filler)
            }
            await expectIOError(.timedOut, message: "timed out") {
                try await Socket.connect(host: "127.0.0.1", port: fullPort, timeout: .timeout(.milliseconds(200)))
            }
            do {
                _ = try await Socket.connect(host: "127.0.0.1", port: fullPort, timeout: .timeout(.milliseconds(200)),
                                             allErrors: true)
                Issue.record("connected to a full backlog")
            } catch let failures as ConnectionFailures {
                #expect(failures.errors.count == 1)
                #expect((failures.errors.first as? IOError)?.kind == .timedOut)
            }
        }
    }

    @Test("CPY-67 create_connection binds a source address first")
    func createConnectionSourceAddress() async throws {
        try await onHub(limit: .seconds(10)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try #require(try listener.localAddress().port)
            // Pick a free source port the same way.
            let probe = try await Socket.listen(host: "127.0.0.1", port: 0)
            let sourcePort = try #require(try probe.localAddress().port)
            probe.close()
            let client = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .blocking,
                                                  sourceAddress: .ipv4(host: "127.0.0.1", port: sourcePort))
            defer { client.close() }
            #expect(try client.localAddress() == .ipv4(host: "127.0.0.1", port: sourcePort))
            let (server, peer) = try await listener.accept()
            defer { server.close() }
            #expect(peer == .ipv4(host: "127.0.0.1", port: sourcePort))
        }
    }

    @Test("shutdown(.write) half-closes: the peer sees EOF and can still answer; options round-trip")
    func shutdownAndOptions() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setOption(.noDelay, true)
            #expect(try client.intOption(.noDelay) != 0)
            try client.setOption(.noDelay, false)
            #expect(try client.intOption(.noDelay) == 0)
            #expect(try client.intOption(.error) == 0)
            try await client.sendAll(bytes("request"))
            try client.shutdown(.write)
            #expect(try await readToEnd(server) == bytes("request"))
            try await server.sendAll(bytes("response"))
            server.close()
            #expect(try await readToEnd(client) == bytes("response"))
            let unconnected = try Socket(family: AF_INET)
            defer { unconnected.close() }
            await expectIOError(.system, errno: ENOTCONN) { try unconnected.shutdown(.both) }
            await expectIOError(.system, errno: ENOTCONN) { try unconnected.peerAddress() }
        }
    }
}
