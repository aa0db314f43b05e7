import Glibc
import Testing
@testable import GreenIO

/// `Socket.unread`: bytes put back come before the descriptor's, in order, through every reader.
@Suite("Socket.unread", .timeLimit(.minutes(1)))
struct SocketUnreadTests {
    @Test("bytes put back are received first, then the kernel's; a second unread goes in front of the first")
    func order() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            _ = try await b.send(bytes("kernel\n"))
            try a.unread(bytes("second "))
            try a.unread(bytes("first "))
            try a.unread([UInt8]())  // Nothing to put back: no change.
            let reader = try a.makeReadWritePair(bufferSize: 4).reader
            let line = try await reader.readLine()
            #expect(line == bytes("first second kernel\n"))
        }
    }

    @Test("a receive smaller than what was put back takes part of it; waiting readers see it as ready")
    func partial() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.unread(bytes("abcdef"))
            try await a.waitUntilReadable(deadline: .after(.seconds(5)))  // Returns at once: bytes are there.
            #expect(try await a.recv(4) == bytes("abcd"))
            #expect(try await a.recv(100) == bytes("ef"))
        }
    }

    @Test("a TLS socket that wraps the socket reads the bytes put back first (the ClientHello behind a header)")
    func tlsTakesThem() async throws {
        try await onHub(limit: .seconds(20)) {
            let (serverSide, clientSide) = try Socket.pair()
            defer { serverSide.close(); clientSide.close() }
            let serverContext = try tlsServerContext()
            let clientContext = try tlsClientContext(verified: false)
            // The client's first flight arrives; part of it is "taken" by an earlier reader and put back.
            let hub = try Hub.requireCurrent()
            let client = hub.spawn { () async throws -> [UInt8] in
                let tls = try await TLSSocket.wrap(clientSide, context: clientContext)
                try await tls.sendAll(bytes("over tls\n"))
                return try await tls.makeReadWritePair(bufferSize: 64).reader.readLine() ?? []
            }
            try await serverSide.waitUntilReadable(deadline: .after(.seconds(10)))
            let head = try await serverSide.recv(5)
            try serverSide.unread(head)
            let tls = try await TLSSocket.wrap(serverSide, context: serverContext)
            let line = try await tls.makeReadWritePair(bufferSize: 64).reader.readLine() ?? []
            #expect(line == bytes("over tls\n"))
            try await tls.sendAll(line)
            #expect(try await client.value == bytes("over tls\n"))
        }
    }

    @Test("unread on a closed socket fails with EBADF")
    func closed() throws {
        let (a, b) = try Socket.pair()
        b.close()
        a.close()
        #expect(throws: IOError.self) { try a.unread(bytes("x")) }
    }
}
