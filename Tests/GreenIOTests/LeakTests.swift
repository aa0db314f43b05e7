import Glibc
import Testing
@testable import GreenIO

extension ResourceUsageTests {
    /// Representative workloads of the library, each repeated on fresh hubs inside a descriptor
    /// balance check (see `DescriptorBalance` for why this is a dedicated serialized suite rather
    /// than a check around every test).
    @Suite("Descriptor leaks", .timeLimit(.minutes(2)))
    struct LeakTests {
        let balance = DescriptorBalance()

        @Test("socket pairs: send, receive, close")
        func socketPairs() async throws {
            try await balance.check("socket pairs") { _ in
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try await a.sendAll(bytes("ping\n"))
                #expect(try await b.recv(16) == bytes("ping\n"))
            }
        }

        @Test("TCP: listen, connect, accept, echo, close")
        func tcpConnections() async throws {
            try await balance.check("tcp connections") { iteration in
                let (client, server) = try await tcpPair()
                defer { client.close(); server.close() }
                let line = "line \(iteration)\n"
                try await client.sendAll(bytes(line))
                #expect(try await echo(server, line, deadline: .after(.seconds(5))) == line)
                #expect(try await client.recv(64) == bytes(line))
            }
        }

        @Test("buffered reader and writer from makefile; the socket closed before its files")
        func bufferedFiles() async throws {
            try await balance.check("buffered files") { iteration in
                let (a, b) = try Socket.pair()
                let writer = try #require(try a.makefile("wb").writer)
                let reader = try #require(try b.makefile("rb").reader)
                // Closing the sockets first leaves the descriptors to the files' last references.
                a.close()
                b.close()
                _ = try await writer.write(bytes("buffered \(iteration)\n"))
                try await writer.close()
                #expect(try await reader.readLine() == bytes("buffered \(iteration)\n"))
                #expect(try await reader.read() == [])
                reader.close()
            }
        }

        @Test("text wrapper over makefile(\"rw\"): write, readLine, close")
        func textFiles() async throws {
            try await balance.check("text files") { iteration in
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                let left = try a.makeTextFile("rw")
                let right = try b.makeTextFile("r")
                _ = try await left.write("héllo \(iteration)\n")
                try await left.flush()
                #expect(try await right.readLine() == "héllo \(iteration)\n")
                try await left.close()
                try await right.close()
            }
        }

        @Test("TLS in process: handshake, send, receive, close_notify, close")
        func tlsConnections() async throws {
            try await balance.check("tls connections") { iteration in
                let (client, server) = try await tlsPair()
                defer { client.close(); server.close() }
                let line = bytes("tls \(iteration)\n")
                try await tlsSendAll(client, line)
                #expect(try await tlsRecvExactly(server, line.count) == line)
                try client.shutdown(.write)
                #expect(try await tlsRecvToEnd(server).isEmpty)
            }
        }

        @Test("makefile over TLS: read-write pairs on both ends")
        func tlsFiles() async throws {
            try await balance.check("tls files") { iteration in
                // Without TCP_NODELAY each round trip of small writes waits out a delayed ACK.
                let (client, server) = try await tlsPair { plainClient, plainServer in
                    try plainClient.setOption(.noDelay, true)
                    try plainServer.setOption(.noDelay, true)
                }
                let clientFile = try client.makeReadWritePair()
                let serverFile = try server.makeReadWritePair()
                client.close()
                server.close()
                _ = try await clientFile.write(bytes("file \(iteration)\n"))
                try await clientFile.flush()
                let line = try await serverFile.readLine()
                #expect(line == bytes("file \(iteration)\n"))
                _ = try await serverFile.write(line ?? [])
                try await serverFile.flush()
                #expect(try await clientFile.readLine() == line)
                try await clientFile.close()
                try await serverFile.close()
            }
        }

        @Test("failed TLS handshakes (wrong host name) close both sides")
        func failedHandshakes() async throws {
            try await balance.check("failed tls handshakes") { _ in
                let outcome = try await tlsTryHandshake(client: try tlsClientContext(), server: try tlsServerContext(),
                                                        serverHostname: "not-the-right-name.example")
                #expect(hubError(outcome.client) != nil)
                if case .success(let server) = outcome.server { server.close() }
                if case .success(let client) = outcome.client { client.close() }
            }
        }

        @Test("timeouts and refusals: receive and accept time out, connect is refused")
        func timeoutsAndRefusals() async throws {
            // Held bound (not listening) for the whole check, so no parallel test can take the port.
            let (refused, holder) = try refusingPort()
            defer { Glibc.close(holder) }
            try await balance.check("timeouts and refusals", limit: .seconds(10)) { _ in
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                try a.setTimeout(seconds: 0.005)
                await expectIOError(.timedOut) { try await a.recv(16) }

                let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
                defer { listener.close() }
                try listener.setTimeout(seconds: 0.005)
                await expectIOError(.timedOut) { try await listener.accept() }

                await expectIOError(.system, errno: ECONNREFUSED) {
                    try await Socket.connect(host: "127.0.0.1", port: refused, timeout: .timeout(.seconds(5)))
                }
            }
        }

        @Test("cancellation: green threads parked on receive and accept are cancelled, then the sockets close")
        func cancellation() async throws {
            try await balance.check("cancellation") { _ in
                guard let hub = Hub.current else { return }
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
                defer { listener.close() }
                let receiving = hub.spawn { try await a.recv(16) }
                let accepting = hub.spawn { try await listener.accept().0 }
                #expect(try await yieldUntil { parkedWaiters == 2 })
                receiving.cancel()
                accepting.cancel()
                #expect(hubIsCancellation(await receiving.result))
                #expect(hubIsCancellation(await accepting.result))
            }
        }
    }
}
