import Glibc
import Testing
@testable import GreenIO

/// Sends every byte of `bytes` over a non-blocking TLS socket the way a green `sendall` over a
/// non-blocking descriptor does (eventlet #114): on would-block, wait on the hub for the direction
/// OpenSSL asked for, then retry with the same bytes.
private func sendAllWaiting(_ tls: TLSSocket, _ bytes: UnsafeRawBufferPointer) async throws {
    var sent = 0
    while sent < bytes.count {
        switch try await tls.send(UnsafeRawBufferPointer(rebasing: bytes[sent...]), deadline: nil) {
        case .completed(let n): sent += n
        case .wouldBlock(let direction):
            try await Hub.current!.wait(for: direction, on: tls.fileDescriptor, deadline: .after(.seconds(20)))
        }
    }
}

/// Large transfers over TLS: EVT-38 and EVT-39 (plus 1 MiB, 16 MiB and 100 MB each way), content
/// checked with SHA-256 digests or byte for byte. They load the machine, so the suite runs serially.
@Suite("TLS large transfers", .serialized, .timeLimit(.minutes(1)))
struct TLSTransferTests {
    @Test("EVT-38 same-buffer retry under pressure: 10 connections, each sending 1 MiB blocks continuously from its own green thread (half blocking, half non-blocking with hub waits): no error, every byte once")
    func manyConnectionsUnderPressure() async throws {
        try await onHub(limit: .seconds(50)) {
            let block = tlsRandomBytes(1 << 20, seed: 38)
            let perConnection = 3 << 20
            var pairs: [(TLSSocket, TLSSocket)] = []
            defer { for (client, server) in pairs { client.close(); server.close() } }
            for _ in 0..<10 { pairs.append(try await tlsPair(configure: tlsSmallBuffers)) }
            var senders: [Task<[UInt8], any Error>] = []
            var receivers: [Task<(Int, [UInt8]), any Error>] = []
            for (index, (client, server)) in pairs.enumerated() {
                let nonBlocking = index % 2 == 1
                if nonBlocking { try client.setTimeout(.nonBlocking) }
                receivers.append(Hub.current!.spawn { try await tlsReceiveStream(server, bufferSize: 4096) })
                senders.append(Hub.current!.spawn { () -> [UInt8] in
                    let digest = TLSTestDigest()
                    try await tlsWithCopy(block) { chunk in
                        for _ in 0..<(perConnection / block.count) {
                            digest.update(chunk)
                            if nonBlocking { try await sendAllWaiting(client, chunk) } else { try await tlsSendAll(client, chunk) }
                        }
                    }
                    // close_notify and FIN; closing now, with the session tickets unread, would reset
                    // the connection and drop what is still in flight.
                    try client.shutdown(.write)
                    return digest.finish()
                })
            }
            for (sender, receiver) in zip(senders, receivers) {
                let sent = try await sender.value
                let (count, received) = try await receiver.value
                #expect(count == perConnection)
                #expect(received == sent)
            }
        }
    }

    @Test("EVT-39 sendAll of 1 000, 10 000, 100 000 and 1 000 000 bytes with a sender buffer of n/15 and n/15-byte reads arrives intact",
          arguments: [1_000, 10_000, 100_000, 1_000_000])
    func sizesWithSmallBuffers(size: Int) async throws {
        try await onHub(limit: .seconds(30)) {
            let (client, server) = try await tlsPair { plainClient, _ in
                try plainClient.setOption(.sendBufferSize, size / 15)
            }
            defer { client.close(); server.close() }
            let data = tlsRandomBytes(size, seed: UInt64(size))
            let receiver = Hub.current!.spawn { () -> [UInt8] in
                var got: [UInt8] = []
                while got.count < size {
                    guard let chunk = try await tlsRecv(server, max(1, size / 15)), !chunk.isEmpty else { break }
                    got += chunk
                }
                return got
            }
            try await tlsSendAll(client, data)
            #expect(try await receiver.value == data)
        }
    }

    @Test("EVT-39 1 MiB and 16 MiB each way at the same time (one reader and one writer green thread per socket), digests match",
          arguments: [1 << 20, 16 << 20])
    func bothWays(size: Int) async throws {
        try await onHub(limit: .seconds(50)) {
            let (client, server) = try await tlsPair(configure: tlsSmallBuffers)
            defer { client.close(); server.close() }
            try await transferBothWays(client, server, size: size, seed: UInt64(size))
        }
    }

    @Test("EVT-39 100 MB each way at the same time, checked with SHA-256")
    func hundredMegabytesEachWay() async throws {
        try await onHub(limit: .seconds(50)) {
            let (client, server) = try await tlsPair()
            defer { client.close(); server.close() }
            try await transferBothWays(client, server, size: 100_000_000, seed: 100)
        }
    }

    /// Sends `size` bytes from each side to the other at the same time; each sender ends its
    /// direction with a close_notify (`shutdown(.write)`), each receiver reads to the end.
    private func transferBothWays(_ client: TLSSocket, _ server: TLSSocket, size: Int, seed: UInt64) async throws {
        let hub = Hub.current!
        let upBlock = tlsRandomBytes(1 << 20, seed: seed)
        let downBlock = tlsRandomBytes(1 << 20, seed: seed + 1)
        let upReceived = hub.spawn { try await tlsReceiveStream(server) }
        let downReceived = hub.spawn { try await tlsReceiveStream(client) }
        let upSent = hub.spawn { () -> [UInt8] in
            let digest = try await tlsSendStream(client, total: size, block: upBlock)
            try client.shutdown(.write)
            return digest
        }
        let downSent = hub.spawn { () -> [UInt8] in
            let digest = try await tlsSendStream(server, total: size, block: downBlock)
            try server.shutdown(.write)
            return digest
        }
        let up = try await upReceived.value
        let down = try await downReceived.value
        #expect(up.0 == size)
        #expect(down.0 == size)
        #expect(up.1 == (try await upSent.value))
        #expect(down.1 == (try await downSent.value))
    }
}
