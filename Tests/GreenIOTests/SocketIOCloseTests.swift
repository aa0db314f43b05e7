import Glibc
import Testing
@testable import GreenIO

/// What a non-blocking look at `peer` shows: true for the end of the stream, false when it would
/// block (the other end is still open and sent nothing). Over a socketpair a close is visible at once.
private func peerSeesEOF(_ peer: Socket) async throws -> Bool {
    let saved = peer.timeout
    try peer.setTimeout(.nonBlocking)
    defer { try? peer.setTimeout(saved) }
    do {
        let got = try await peer.recv(1)
        #expect(got.isEmpty, "unexpected data \(got)")
        return true
    } catch let error as IOError where error.kind == .wouldBlock {
        return false
    }
}

/// Whether the peer sees the end of the stream within `limit`. A close reaches the peer only once
/// every copy of the descriptor is gone, and a child process that another test is starting holds
/// copies until it runs its program, so "EOF now" may take a moment.
private func peerSeesEOFSoon(_ peer: Socket, within limit: Duration = .seconds(5)) async throws -> Bool {
    let deadline = Deadline.after(limit)
    while !deadline.hasPassed {
        if try await peerSeesEOF(peer) { return true }
        try await Hub.sleep(for: .milliseconds(2))
    }
    return false
}

/// CPY-09 … CPY-16 and EVT-02 … EVT-05, EVT-60: when the descriptor really closes.
@Suite("SocketIO close and references", .timeLimit(.minutes(1)))
struct SocketIOCloseTests {
    @Test("CPY-09 socket closed while a file is open: fd stays open, the file and the socket still read")
    func closeAfterMakefile() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let fd = a.fileDescriptor
            let file = try a.makeSocketIO(mode: "rb")
            defer { file.close() }
            a.close()
            #expect(a.isClosed)
            #expect(a.fileDescriptor == fd)
            #expect(descriptorIsOpen(fd))
            try await b.sendAll(bytes("through the file"))
            #expect(try await file.read(100) == bytes("through the file"))
            try await b.sendAll(bytes("through the socket"))
            #expect(try await a.recv(100) == bytes("through the socket"))
            // Socket methods keep working while the file holds the connection open.
            #expect(try await a.send(bytes("back")) == 4)
            #expect(try await b.recv(100) == bytes("back"))
            #expect(try await peerSeesEOF(b) == false)
        }
    }

    @Test("CPY-10 closing the last file after the socket really closes it: recv fails with EBADF, fd -1, peer sees EOF")
    func fileCloseClosesSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            a.close()
            file.close()
            #expect(a.fileDescriptor == -1)
            await expectIOError(.system, errno: EBADF) { try await a.recv(1) }
            await expectIOError(.system, errno: EBADF) { try a.localAddress() }
            #expect(try await peerSeesEOFSoon(b))
        }
    }

    @Test("CPY-10 other order: file closed (fileno() fails), then socket closed (localAddress fails)")
    func fileThenSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            file.close()
            await expectIOError(.invalidArgument, message: "I/O operation on closed file.") { try file.fileno() }
            #expect(try await peerSeesEOF(b) == false)
            #expect(try a.localAddress() == .unix(path: ""))
            a.close()
            #expect(a.fileDescriptor == -1)
            await expectIOError(.system, errno: EBADF) { try a.localAddress() }
            #expect(try await peerSeesEOFSoon(b))
        }
    }

    @Test("CPY-11 file closed first: the socket still reads the peer's data; references back to 0")
    func makefileAfterMakefileClose() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            #expect(a.fileReferences == 1)
            try await b.sendAll(referenceMessage)
            file.close()
            #expect(a.fileReferences == 0)
            #expect(a.isClosed == false)
            var got: [UInt8] = []
            while got.count < referenceMessage.count { got += try await a.recv(1024) }
            #expect(got == referenceMessage)
        }
    }

    @Test("CPY-12 three files: fd closes only with the third; double close counts once; rwb is one reference")
    func threeFiles() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let first = try a.makeSocketIO(mode: "rb")
            let second = try a.makeSocketIO(mode: "wb")
            let third = try a.makeSocketIO(mode: "rwb")
            #expect(a.fileReferences == 3)
            a.close()
            first.close()
            first.close()
            #expect(a.fileReferences == 2)
            #expect(try await peerSeesEOF(b) == false)
            second.close()
            #expect(a.fileReferences == 1)
            #expect(a.fileDescriptor >= 0)
            #expect(try await third.write(bytes("still open")) == 10)
            #expect(try await b.recv(100) == bytes("still open"))
            #expect(try await peerSeesEOF(b) == false)
            third.close()
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor == -1)
            #expect(try await peerSeesEOFSoon(b))
        }
    }

    @Test("CPY-13 dropping an unclosed file releases its reference and closes a closed socket's fd")
    func droppedFileReleasesReference() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            do {
                let file = try a.makeSocketIO(mode: "rb")
                #expect(file.isClosed == false)
                a.close()
                #expect(a.fileDescriptor >= 0)
            }
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor == -1)
            #expect(try await peerSeesEOFSoon(b))
        }
    }

    @Test("CPY-13 dropping an unclosed file of an open socket only releases the reference")
    func droppedFileKeepsOpenSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            do {
                let file = try a.makeSocketIO(mode: "wb")
                #expect(try await file.write(bytes("x")) == 1)
            }
            #expect(a.fileReferences == 0)
            #expect(a.fileDescriptor >= 0)
            #expect(try await b.recv(1) == bytes("x"))
            a.close()
            #expect(a.fileDescriptor == -1)
            #expect(try await peerSeesEOFSoon(b))
        }
    }

    @Test("CPY-14 detach() while a file is open: the returned fd stays open after the file is closed")
    func detachWithOpenFile() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rb")
            let fd = a.detach()
            #expect(fd >= 0)
            #expect(a.isClosed)
            #expect(a.fileDescriptor == -1)
            file.close()
            #expect(descriptorIsOpen(fd))
            // The detached descriptor still carries the connection; adopt it to prove it.
            let adopted = try Socket(adopting: fd)
            defer { adopted.close() }
            try await b.sendAll(bytes("alive"))
            #expect(try await adopted.recv(10) == bytes("alive"))
            #expect(a.detach() == -1)
        }
    }

    @Test("CPY-15 scoped use: a socket closed on scope exit (also after an error, also when closed inside) fails later calls with EBADF")
    func scopedUse() async throws {
        struct Failure: Error {}
        try await onHub(limit: .seconds(10)) {
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try #require(try listener.localAddress().port)
            var escaped: Socket?
            do {
                let connection = try await Socket.connect(host: "127.0.0.1", port: port, timeout: .blocking)
                escaped = connection
                defer { connection.close() }
                connection.close()  // closing inside the scope, then again at its end, is fine
                throw Failure()
            } catch is Failure {}
            let connection = try #require(escaped)
            #expect(connection.isClosed)
            #expect(connection.fileDescriptor == -1)
            await expectIOError(.system, errno: EBADF) { try await connection.sendAll(bytes("late")) }
            await expectIOError(.system, errno: EBADF) { try await connection.send(bytes("late")) }
            await expectIOError(.system, errno: EBADF) { try connection.setTimeout(seconds: 1) }
            // gettimeout() still answers on a closed socket.
            #expect(connection.timeout == .blocking)
        }
    }

    @Test("CPY-16 makeSocketIO on an already-closed socket succeeds; the first read fails with EBADF")
    func makefileOnClosedSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { b.close() }
            a.close()
            let file = try a.makeSocketIO(mode: "rwb")
            await expectIOError(.system, errno: EBADF) { try await file.read(1) }
            await expectIOError(.system, errno: EBADF) { try await file.write(bytes("x")) }
            file.close()
            #expect(a.fileDescriptor == -1)
        }
    }

    @Test("EVT-02 socket closed before its file: both ends still exchange a line; then the file and socket refuse")
    func socketClosedBeforeFile() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let writer = try server.makeSocketIO(mode: "wb")
            server.close()
            let reader = try client.makeSocketIO(mode: "rb")
            client.close()
            #expect(try await writer.write(bytes("hello\n")) == 6)
            writer.close()
            #expect(try await reader.readLine() == bytes("hello\n"))
            #expect(try await reader.readAll() == [])
            await expectIOError(.invalidArgument, message: "I/O operation on closed file.") {
                try await writer.write(bytes("more"))
            }
            await expectIOError(.system, errno: EBADF) { try await server.send(bytes("more")) }
            reader.close()
            #expect(client.fileDescriptor == -1)
        }
    }

    @Test("EVT-03 file closed before its socket: the peer reads everything sent through both")
    func fileClosedBeforeSocket() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let writer = try server.makeSocketIO(mode: "wb")
            #expect(try await writer.write(bytes("hello")) == 5)
            writer.close()
            #expect(try await server.send(bytes("\n")) == 1)
            server.close()
            let reader = try client.makeSocketIO(mode: "rb")
            defer { reader.close() }
            #expect(try await reader.readLine() == bytes("hello\n"))
            #expect(try await reader.readLine() == [])
        }
    }

    @Test("EVT-04 the last reference closes the fd: closing (or dropping) the only file object ends the peer's stream")
    func lastReferenceCloses() async throws {
        try await onHub(limit: .seconds(10)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            let file = try server.makeSocketIO(mode: "wb")
            server.close()
            #expect(try await file.write(bytes("everything")) == 10)
            file.close()
            #expect(try await readToEnd(client) == bytes("everything"))

            let (client2, server2) = try await tcpPair()
            defer { client2.close(); server2.close() }
            do {
                let dropped = try server2.makeSocketIO(mode: "wb")
                server2.close()
                #expect(try await dropped.write(bytes("dropped")) == 7)
            }
            #expect(try await readToEnd(client2) == bytes("dropped"))
        }
    }

    @Test("EVT-05 an fd stays open while a file object is alive: the peer sees no EOF until the file closes")
    func fileKeepsConnectionOpen() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let file = try a.makeSocketIO(mode: "rwb")
            a.close()
            #expect(try await peerSeesEOF(b) == false)
            // A blocked reader on the peer is not woken by the socket's close either.
            try b.setTimeout(seconds: 0.1)
            await expectIOError(.timedOut) { try await b.recv(1) }
            #expect(try await file.write(bytes("late")) == 4)
            #expect(try await b.recv(10) == bytes("late"))
            file.close()
            #expect(try await peerSeesEOFSoon(b))
        }
    }

    @Test("EVT-60 double close is harmless and never closes a reused descriptor number")
    func doubleClose() async throws {
        try await onHub(limit: .seconds(10)) {
            // Tests run in parallel and may take a freed number first: try a few times to see the
            // closed socket's number handed out again.
            var a: Socket
            var b: Socket
            var file: SocketIO
            var number: Int32
            var reused: (Socket, Socket)?
            var attempts = 0
            repeat {
                attempts += 1
                (a, b) = try Socket.pair()
                number = a.fileDescriptor
                file = try a.makeSocketIO(mode: "rb")
                a.close()
                file.close()
                #expect(a.fileDescriptor == -1)
                var spare: [(Socket, Socket)] = []
                for _ in 0..<8 {
                    let pair = try Socket.pair()
                    if pair.0.fileDescriptor == number || pair.1.fileDescriptor == number {
                        reused = pair
                        break
                    }
                    spare.append(pair)
                }
                for (x, y) in spare { x.close(); y.close() }
                if reused == nil { b.close() }
            } while reused == nil && attempts < 50
            let (c, d) = try #require(reused, "descriptor number \(number) was not handed out again")
            defer { c.close(); d.close() }
            // Closing the old socket and its file again, and dropping them, must leave the new pair alone.
            a.close()
            file.close()
            a.releaseFileReference()
            (a, b) = try Socket.pair()
            a.close()
            b.close()
            #expect(descriptorIsOpen(number))
            try await c.sendAll(bytes("ping"))
            #expect(try await d.recv(4) == bytes("ping"))
            try await d.sendAll(bytes("pong"))
            #expect(try await c.recv(4) == bytes("pong"))
        }
    }
}
