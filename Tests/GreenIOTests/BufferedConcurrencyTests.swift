import Glibc
import Testing
@testable import GreenIO

/// One green thread per reader and per writer (a second concurrent call fails with `.busy`); the
/// two halves of a pair are independent; closing from another green thread.
@Suite("Buffered files and green threads", .timeLimit(.minutes(1)))
struct BufferedConcurrencyTests {
    @Test("a second green thread reading a busy reader fails with .busy; the first still gets its line")
    func busyReader() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let reader = try a.makeReader()
            defer { reader.close() }
            let first = Hub.current!.spawn { try await reader.readLine() }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            await expectIOError(.busy) { try await reader.readLine() }
            await expectIOError(.busy) { try await reader.read(1) }
            try await b.sendAll(bytes("line\n"))
            #expect(try await first.value == bytes("line\n"))
        }
    }

    @Test("a pair reads in one green thread while another writes and flushes; a second writer is refused with .busy")
    func pairHalvesAreIndependent() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let pair = try a.makeReadWritePair()
            let reading = Hub.current!.spawn { try await pair.readLine() }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            #expect(try await pair.write(bytes("request\n")) == 8)
            try await pair.flush()
            #expect(try await receive(8, from: b) == bytes("request\n"))
            try await b.sendAll(bytes("response\n"))
            #expect(try await reading.value == bytes("response\n"))

            // Fill the socket so that a flush parks, then try a second write.
            let filler = try a.makeSocketIO(mode: "wb")
            try a.setTimeout(.nonBlocking)
            while try await filler.write(pattern(from: 0, count: 65_536)) != nil {}
            filler.close()
            try a.setTimeout(.blocking)
            try await pair.write(bytes("queued"))
            let flushing = Hub.current!.spawn { try await pair.flush() }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            await expectIOError(.busy) { try await pair.write([UInt8](repeating: 1, count: 10_000)) }
            let drain = Hub.current!.spawn { try await readToEnd(b) }
            try await flushing.value
            try await pair.close()
            a.close()
            let got = try await drain.value
            #expect(got.suffix(6) == bytes("queued")[...])
        }
    }

    @Test("closing a reader from another green thread: the parked read ends with .closed once the last reference closes the fd")
    func closeWhileReading() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { b.close() }
            let reader = try a.makeReader()
            a.close()
            let parked = Hub.current!.spawn { try await reader.readLine() }
            #expect(try await yieldUntil { parkedWaiters == 1 })
            reader.close()
            #expect(a.fileDescriptor == -1)
            await expectIOError(.closed) { try await parked.value }
            await expectIOError(.invalidArgument, message: "readline of closed file") { try await reader.readLine() }
            #expect(reader.bufferedByteCount == 0)
        }
    }

    @Test("closing a writer while another green thread is parked in its flush or write: the writer ends closed, the parked call settles, the count ends at 0 (never negative)")
    func closeWhileWriting() async throws {
        try await onHub(limit: .seconds(10)) {
            for parkedIn in ["flush", "write"] {
                let (a, b) = try Socket.pair()
                defer { a.close(); b.close() }
                let writer = try a.makeWriter(bufferSize: 100)
                let filler = try a.makeSocketIO(mode: "wb")
                try a.setTimeout(.nonBlocking)
                var filled = 0
                while let n = try await filler.write(pattern(from: filled, count: 65_536)) { filled += n }
                filler.close()
                try a.setTimeout(.blocking)
                #expect(try await writer.write(pattern(from: filled, count: 50)) == 50)
                // A flush parks sending the 50 bytes; so does a 60-byte write making room for itself.
                let more = pattern(from: filled + 50, count: 60)
                let parked = Hub.current!.spawn { () async throws -> Void in
                    if parkedIn == "flush" { try await writer.flush() } else { _ = try await writer.write(more) }
                }
                #expect(try await yieldUntil { parkedWaiters == 1 })
                await expectIOError(.busy) { try await writer.close() }
                #expect(writer.isClosed)
                #expect(writer.bufferedByteCount == 50)
                let drain = Hub.current!.spawn { try await readToEnd(b) }
                _ = try? await parked.value
                #expect(writer.bufferedByteCount == 0, "parked in \(parkedIn)")
                await expectIOError(.invalidArgument, message: "write to closed file") { try await writer.write(more) }
                a.close()
                // What reached the peer is a prefix of what was written: the socket's bytes, then
                // at most the writer's 50 (the 60 were never sent: the writer closed first).
                let got = try await drain.value
                #expect(got.count >= filled && got.count <= filled + 50, "parked in \(parkedIn)")
                #expect(got == pattern(from: 0, count: got.count))
            }
        }
    }
}
