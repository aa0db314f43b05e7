import Glibc
import Testing
@testable import GreenIO

/// A TLS connection keeps its buffers (OpenSSL's record buffers, the BIO's read-ahead buffer) while
/// it is busy and gives them back once a read wait has lasted `Hub.idleReleaseDelayNanoseconds`.
@Suite("TLS idle release", .serialized, .timeLimit(.minutes(1)))
struct TLSIdleReleaseTests {
    @Test("a read wait that lasts gives the buffers back; the next record is read as usual")
    func lastingWaitReleases() async throws {
        try await onHub(limit: .seconds(20)) {
            let (peer, ours) = try await tlsPair()
            defer { peer.close(); ours.close() }
            try await tlsSendAll(peer, bytes("one\n"))
            #expect(try await tlsRecvExactly(ours, 4) == bytes("one\n"))
            // An earlier wait (the handshake's, the first line's) may have lasted too on a busy
            // machine; each wait gives the buffers back at most once.
            let before = ours.idleReleaseCount
            let reader = Hub.current!.spawn { try await tlsRecvExactly(ours, 4) }
            // Well past the delay: the hub wakes up for the release, with nothing else to do.
            try await Hub.sleep(for: .milliseconds(200))
            #expect(ours.idleReleaseCount == before + 1)
            #expect(ours.transport.bufferCapacity == 0)
            #expect(!ours.idleReleaseQueued)
            try await tlsSendAll(peer, bytes("two\n"))
            #expect(try await reader.value == bytes("two\n"))
            #expect(ours.idleSince == nil, "working again")
        }
    }

    @Test("a write while a reader waits does not keep the waiting reader's buffers: they go back a moment later")
    func writeDuringReadWait() async throws {
        try await onHub(limit: .seconds(20)) {
            let (peer, ours) = try await tlsPair()
            defer { peer.close(); ours.close() }
            try await tlsSendAll(peer, bytes("one\n"))
            #expect(try await tlsRecvExactly(ours, 4) == bytes("one\n"))
            let before = ours.idleReleaseCount  // earlier waits may have lasted on a busy machine
            let reader = Hub.current!.spawn { try await tlsRecvExactly(ours, 4) }
            try await Hub.yield()
            try await tlsSendAll(ours, bytes("push\n"))
            #expect(try await tlsRecvExactly(peer, 5) == bytes("push\n"))
            try await Hub.sleep(for: .milliseconds(200))
            #expect(ours.idleReleaseCount == before + 1)
            try await tlsSendAll(peer, bytes("two\n"))
            #expect(try await reader.value == bytes("two\n"))
        }
    }

    @Test("a busy connection keeps its buffers: 200 round trips give them back far fewer than 200 times")
    func busyConnectionKeeps() async throws {
        try await onHub(limit: .seconds(30)) {
            let (peer, ours) = try await tlsPair(noDelay: true)
            defer { peer.close(); ours.close() }
            let echo = Hub.current!.spawn {
                for _ in 0..<200 {
                    let line = try await tlsRecvExactly(ours, 8)
                    try await tlsSendAll(ours, line)
                }
            }
            for index in 0..<200 {
                let line = bytes(String(format: "%07d\n", index))
                try await tlsSendAll(peer, line)
                #expect(try await tlsRecvExactly(peer, 8) == line)
            }
            try await echo.value
            // Only a wait of 20 ms or more releases; on a very busy machine a few may.
            #expect(ours.idleReleaseCount < 100, "released \(ours.idleReleaseCount) times in 200 waits")
        }
    }

    @Test("a non-blocking read that would block counts as the start of a wait: the buffers go back a moment later")
    func nonBlockingWouldBlockReleases() async throws {
        try await onHub(limit: .seconds(20)) {
            let (peer, ours) = try await tlsPair()
            defer { peer.close(); ours.close() }
            try await tlsSendAll(peer, bytes("one\n"))
            #expect(try await tlsRecvExactly(ours, 4) == bytes("one\n"))
            try ours.setTimeout(.nonBlocking)
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
            defer { buffer.deallocate() }
            let before = ours.idleReleaseCount  // earlier waits may have lasted on a busy machine
            #expect(try await ours.receive(into: buffer, deadline: nil) == .wouldBlock(.read))
            try await Hub.sleep(for: .milliseconds(200))
            #expect(ours.idleReleaseCount == before + 1)
            #expect(ours.transport.bufferCapacity == 0)
            try await tlsSendAll(peer, bytes("two\n"))
            try ours.setTimeout(seconds: 10)
            #expect(try await tlsRecvExactly(ours, 4) == bytes("two\n"))
        }
    }
}
