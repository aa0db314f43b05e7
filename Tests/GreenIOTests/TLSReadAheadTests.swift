import Glibc
import Testing
@testable import GreenIO

/// The TLS socket receives ahead of OpenSSL (`SocketBIO`): one `recv` takes whole records, so the
/// bytes behind the last one OpenSSL needed may already be out of the kernel. These tests pin down
/// that nothing is lost or misread that way: cleartext behind a close_notify goes to the plain
/// socket `unwrap` returns, carried bytes feed a later `startTLS`, and an end of stream that came
/// with the last record still ends `waitUntilReadable`.
@Suite("TLS read-ahead", .timeLimit(.minutes(1)))
struct TLSReadAheadTests {
    @Test("CPY-77 unwrap: cleartext that arrived right behind the peer's close_notify, in the same read as its last record, is the plain socket's first input; later bytes follow it")
    func unwrapCarriesCleartext() async throws {
        try await onHub(limit: .seconds(20)) {
            // The peer is the client, so nothing but its own records travels towards us.
            let (peer, ours) = try await tlsPair()
            defer { peer.close(); ours.close() }
            try await tlsSendAll(peer, bytes("ENDTLS\n"))
            try peer.setTimeout(.nonBlocking)
            #expect(try await peer.unwrap() == nil)  // its close_notify is out, ours has not come
            #expect(Glibc.send(peer.fileDescriptor, "clear 1\n", 8, Int32(MSG_NOSIGNAL)) == 8)
            // Two records (7 and 2 bytes of plaintext, 22 bytes of overhead each) and the cleartext,
            // all in the kernel before we read: the first receive takes all of them.
            try await waitForQueuedBytes(ours.fileDescriptor, atLeast: 29 + 24 + 8)
            #expect(try await tlsRecvExactly(ours, 7) == bytes("ENDTLS\n"))
            #expect(ours.pending == 24 + 8, "the close_notify record and the cleartext, received ahead")
            let plain = try #require(try await ours.unwrap())
            defer { plain.close() }
            #expect(try await receive(8, from: plain) == bytes("clear 1\n"))

            let peerPlain = try await tlsPoll { try await peer.unwrap() }
            defer { peerPlain.close() }
            try peerPlain.setTimeout(seconds: 10)
            try await peerPlain.sendAll(bytes("clear 2\n"))
            #expect(try await receive(8, from: plain) == bytes("clear 2\n"))
            try await plain.sendAll(bytes("back\n"))
            #expect(try await receive(5, from: peerPlain) == bytes("back\n"))
        }
    }

    @Test("carried bytes: receive serves them first (a small buffer takes part of them), then the descriptor's; a zero-length receive and waitUntilReadable return at once; readline spans both")
    func carriedInputComesFirst() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let carrier = Socket(descriptor: a.detach(), family: AF_UNIX, timeout: .timeout(.seconds(5)),
                                 carrying: bytes("carried "))
            defer { carrier.close() }
            let start = Deadline.now
            try await carrier.waitUntilReadable(deadline: nil)
            #expect(try await carrier.receive(into: UnsafeMutableRawBufferPointer(start: nil, count: 0), deadline: nil) == .completed(0))
            #expect(seconds(since: start) < 2.5, "carried bytes are readable at once")
            #expect(try await carrier.recv(3) == bytes("car"))
            try await b.sendAll(bytes("and new\nnext\n"))
            let file = try #require(try carrier.makefile("rb").reader)
            defer { file.close() }
            #expect(try await file.readLine() == bytes("ried and new\n"))
            #expect(try await file.readLine() == bytes("next\n"))
        }
    }

    @Test("startTLS on a socket carrying bytes: a server's handshake starts from them (the ClientHello), a client's upgrade is refused")
    func startTLSWithCarriedBytes() async throws {
        try await onHub(limit: .seconds(20)) {
            let (plainClient, plainServer) = try await tcpPair()
            try plainClient.setTimeout(seconds: 10)
            try plainServer.setTimeout(seconds: 10)
            let clientContext = try tlsClientContext()
            let clientSide = Hub.current!.spawn { () -> [UInt8] in
                let tls = try await TLSSocket.wrap(plainClient, context: clientContext, serverHostname: "localhost")
                defer { tls.close() }
                try await tlsSendAll(tls, bytes("over TLS\n"))
                return try await tlsRecvExactly(tls, 5)
            }
            // Take the whole ClientHello record off the descriptor, as a TLS layer reading ahead would.
            let header = try await receive(5, from: plainServer)
            let length = Int(header[3]) << 8 | Int(header[4])
            let hello = header + (try await receive(length, from: plainServer))
            let carrier = Socket(descriptor: plainServer.detach(), family: AF_INET, timeout: .timeout(.seconds(10)),
                                 carrying: hello)
            let tls = try await carrier.startTLS(context: try tlsServerContext())
            defer { tls.close() }
            #expect(try await tlsRecvExactly(tls, 9) == bytes("over TLS\n"))
            try await tlsSendAll(tls, bytes("back\n"))
            #expect(try await clientSide.value == bytes("back\n"))

            let (c, d) = try Socket.pair()
            defer { c.close(); d.close() }
            let injected = Socket(descriptor: c.detach(), family: AF_UNIX, timeout: .timeout(.seconds(5)),
                                  carrying: bytes("250 injected\r\n"))
            defer { injected.close() }
            await expectIOError(.invalidArgument, message: "STARTTLS refused: the server sent cleartext bytes before the TLS handshake") {
                _ = try await injected.startTLS(context: clientContext, serverHostname: "localhost")
            }
        }
    }

    @Test("waitUntilReadable after the last record: an end of stream that came with it ends the wait (close_notify and FIN, or FIN alone)",
          arguments: ["close_notify", "FIN"])
    func endOfStreamBehindLastRecord(ending: String) async throws {
        try await onHub(limit: .seconds(40)) {
            for round in 0..<20 {
                let (peer, ours) = try await tlsPair(serverTimeout: .timeout(.seconds(3)))
                defer { peer.close(); ours.close() }
                Hub.current!.spawn {
                    try await Hub.sleep(for: .milliseconds(5))
                    try await tlsSendAll(peer, bytes("last \(round)\n"))
                    if ending == "FIN" {
                        tlsRaggedClose(peer)
                    } else {
                        tlsDiscardIncoming(peer)  // unread session tickets would turn the close into a reset
                        peer.close()
                    }
                }
                try await ours.waitUntilReadable(deadline: nil)
                let line = bytes("last \(round)\n")
                #expect(try await tlsRecvExactly(ours, line.count) == line)
                let start = Deadline.now
                try await ours.waitUntilReadable(deadline: nil)  // must not wait for an edge that never comes
                #expect(seconds(since: start) < 2, "round \(round)")
                #expect(try await tlsRecv(ours, 100) == [])
            }
        }
    }

    @Test("bulk through the read-ahead buffer: 1 MiB each way at once in 40,000-byte writes, read into 700-byte and 64 KiB buffers, arrives intact")
    func bulkBothWays() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            let total = 1 << 20
            let block = tlsRandomBytes(40_000, seed: 7)
            let upstream = Hub.current!.spawn { () -> [UInt8] in
                let digest = try await tlsSendStream(client, total: total, block: block)
                try client.shutdown(.write)
                return digest
            }
            let downstream = Hub.current!.spawn { () -> [UInt8] in
                let digest = try await tlsSendStream(server, total: total, block: block)
                try server.shutdown(.write)
                return digest
            }
            let clientReceiver = Hub.current!.spawn { try await tlsReceiveStream(client) }
            let (serverCount, serverGot) = try await tlsReceiveStream(server, bufferSize: 700)
            let (clientCount, clientGot) = try await clientReceiver.value
            #expect(serverCount == total && clientCount == total)
            #expect(serverGot == (try await upstream.value))
            #expect(clientGot == (try await downstream.value))
        }
    }
}

extension TLSReadAheadTests {
    @Test("CPY-74 pending() counts records received ahead: after the first of two records that came together, the descriptor is not readable but pending is not 0, and a non-blocking receive takes the second")
    func pendingCountsRecordsReceivedAhead() async throws {
        try await onHub(limit: .seconds(20)) {
            let (peer, ours) = try await tlsPair(serverTimeout: .nonBlocking)
            defer { peer.close(); ours.close() }
            try await tlsSendAll(peer, bytes("first\n"))
            try await tlsSendAll(peer, bytes("second\n"))
            try await waitForQueuedBytes(ours.fileDescriptor, atLeast: (6 + 22) + (7 + 22))
            #expect(try await tlsRecv(ours, 100) == bytes("first\n"))  // one record per read
            #expect(!tlsDescriptorIsReadable(ours.fileDescriptor), "both records came out of the kernel at once")
            #expect(ours.pending > 0)
            #expect(try await tlsRecv(ours, 100) == bytes("second\n"))
            #expect(ours.pending == 0)
            #expect(try await tlsRecv(ours, 100) == nil)  // would block
        }
    }

    @Test("records of every size in one stream (1 byte to 16 KiB, so the BIO keeps changing between its small buffer, its large one and bulk bodies straight into OpenSSL), read into buffers of random sizes, arrive intact")
    func mixedRecordSizes() async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            var generator = SplitMix64(seed: 11)
            var sizes: [Int] = []
            for _ in 0..<600 {
                switch generator.next() % 4 {
                case 0: sizes.append(1 + Int(generator.next() % 100))         // a line
                case 1: sizes.append(500 + Int(generator.next() % 3_000))     // a batch
                case 2: sizes.append(4_096 + Int(generator.next() % 12_289))  // bulk, up to 16 KiB
                default: sizes.append(Int(generator.next() % 600) + 1)
                }
            }
            let total = sizes.reduce(0, +)
            let data = tlsRandomBytes(total, seed: 12)
            let writer = Hub.current!.spawn {
                var offset = 0
                for size in sizes {  // one write per record
                    try await tlsSendAll(client, Array(data[offset..<(offset + size)]))
                    offset += size
                    if size % 7 == 0 { try await Hub.sleep(for: .milliseconds(1)) }  // some arrive alone
                }
                try client.shutdown(.write)
            }
            var received: [UInt8] = []
            received.reserveCapacity(total)
            var readSizes = SplitMix64(seed: 13)
            while true {
                let want = 1 + Int(readSizes.next() % 20_000)
                guard let chunk = try await tlsRecv(server, want), !chunk.isEmpty else { break }
                received += chunk
            }
            try await writer.value
            #expect(received.count == total)
            #expect(received == data)
        }
    }
}

/// Waits (polling, up to 5 s) until at least `count` bytes are queued for reading on `fd`.
private func waitForQueuedBytes(_ fd: Int32, atLeast count: Int) async throws {
    var probe = [UInt8](repeating: 0, count: count)
    try await tlsPoll { () -> Bool? in
        let queued = probe.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_PEEK | MSG_DONTWAIT)) }
        return queued >= count ? true : nil
    }
}
