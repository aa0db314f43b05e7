import Glibc
import Testing
@testable import GreenIO

/// CPY-06 … CPY-08: the raw file object's attributes, closed state and mode rules.
@Suite("SocketIO attributes", .timeLimit(.minutes(1)))
struct SocketIOAttributeTests {
    @Test("CPY-06 raw attributes: readable/writable/seekable per mode, name == fileno() == socket fd, tell/seek unsupported")
    func rawAttributes() async throws {
        let (a, b) = try Socket.pair()
        defer { a.close(); b.close() }
        for (mode, canRead, canWrite) in [("rb", true, false), ("wb", false, true), ("rwb", true, true)] {
            let file = try a.makeSocketIO(mode: mode)
            defer { file.close() }
            #expect(file.mode == mode)
            #expect(try file.readable() == canRead)
            #expect(try file.writable() == canWrite)
            #expect(try file.seekable() == false)
            #expect(file.name == a.fileDescriptor)
            #expect(try file.fileno() == a.fileDescriptor)
            #expect(file.isClosed == false)
            await expectIOError(.unsupportedOperation, message: "seek") { try file.tell() }
            await expectIOError(.unsupportedOperation, message: "seek") { try file.seek(0) }
        }
    }

    @Test("CPY-07 after close: readable/writable/seekable and fileno() throw, name is -1, isClosed")
    func closedRawAttributes() async throws {
        let (a, b) = try Socket.pair()
        defer { a.close(); b.close() }
        let file = try a.makeSocketIO(mode: "rwb")
        file.close()
        #expect(file.isClosed)
        #expect(file.name == -1)
        let closedSocket = "I/O operation on closed socket."
        await expectIOError(.invalidArgument, message: closedSocket) { try file.readable() }
        await expectIOError(.invalidArgument, message: closedSocket) { try file.writable() }
        await expectIOError(.invalidArgument, message: closedSocket) { try file.seekable() }
        await expectIOError(.invalidArgument, message: "I/O operation on closed file.") { try file.fileno() }
        // The socket itself is untouched by closing its file.
        #expect(a.fileDescriptor >= 0)
        #expect(a.isClosed == false)
        // Closing the file again is a no-op.
        file.close()
        #expect(file.name == -1)
    }

    @Test("CPY-07 read and write on a closed raw object fail with \"I/O operation on closed file.\"")
    func readWriteAfterClose() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rwb")
            file.close()
            let closedFile = "I/O operation on closed file."
            await expectIOError(.invalidArgument, message: closedFile) { try await file.read(1) }
            await expectIOError(.invalidArgument, message: closedFile) { try await file.readLine() }
            await expectIOError(.invalidArgument, message: closedFile) { try await file.write(bytes("x")) }
        }
    }

    @Test("CPY-08 read on a write-only raw / write on a read-only raw: unsupported operation")
    func wrongDirection() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let writer = try a.makeSocketIO(mode: "wb")
            let reader = try a.makeSocketIO(mode: "rb")
            defer { writer.close(); reader.close() }
            try await b.sendAll(bytes("data"))
            let notReadable = "File or stream is not readable."
            await expectIOError(.unsupportedOperation, message: notReadable) { try await writer.read(4) }
            await expectIOError(.unsupportedOperation, message: notReadable) { try await writer.readLine() }
            await expectIOError(.unsupportedOperation, message: notReadable) { try await writer.readAll() }
            await expectIOError(.unsupportedOperation, message: "File or stream is not writable.") {
                try await reader.write(bytes("x"))
            }
            // Nothing was consumed by the refused read.
            #expect(try await reader.read(4) == bytes("data"))
        }
    }

    @Test("CPY-08 SocketIO constructor: rejects mode 'x', normalises r/w/rw to rb/wb/rwb, takes no file reference")
    func constructorModes() async throws {
        let (a, b) = try Socket.pair()
        defer { b.close() }
        for mode in ["x", "rt", "", "b", "r+", "a", "wr"] {
            await expectIOError(.invalidArgument, message: "invalid mode: '\(mode)'") { try SocketIO(a, mode: mode) }
        }
        for (mode, normalised) in [("r", "rb"), ("w", "wb"), ("rw", "rwb"), ("rb", "rb"), ("wb", "wb"), ("rwb", "rwb")] {
            #expect(try SocketIO(a, mode: mode).mode == normalised)
        }
        // Unlike makeSocketIO, the constructor takes no reference: closing the socket closes it.
        let file = try SocketIO(a, mode: "rb")
        #expect(a.fileReferences == 0)
        a.close()
        #expect(a.fileDescriptor == -1)
        file.close()
    }

    @Test("CPY-08 makeSocketIO modes: any mix of r, w, b; '' and 'b' mean read; others rejected")
    func makeSocketIOModes() async throws {
        let (a, b) = try Socket.pair()
        defer { a.close(); b.close() }
        for (mode, rawMode) in [("", "rb"), ("b", "rb"), ("r", "rb"), ("rb", "rb"), ("br", "rb"), ("w", "wb"),
                                ("wb", "wb"), ("rw", "rwb"), ("wr", "rwb"), ("rwb", "rwb"), ("rrwb", "rwb")] {
            let file = try a.makeSocketIO(mode: mode)
            #expect(file.mode == rawMode, "makeSocketIO(mode: \"\(mode)\")")
            file.close()
        }
        for mode in ["rt", "x", "+", "a", "r+"] {
            await expectIOError(.invalidArgument, message: "invalid mode '\(mode)' (only r, w, b allowed)") {
                try a.makeSocketIO(mode: mode)
            }
        }
        #expect(a.fileReferences == 0)
    }
}
