import Glibc
import Testing
@testable import GreenIO

/// Writes `pattern` bytes from `offset` through `writer` in `chunk`-sized calls until one throws
/// would-block; returns the new offset (advanced by everything accepted, including the
/// `bytesTransferred` of the failing call) and that call's error.
private func writeUntilWouldBlock(_ writer: BufferedWriter, from offset: Int, chunk: Int = 10_000)
    async throws -> (offset: Int, error: IOError) {
    var offset = offset
    for _ in 0..<100_000 {
        do {
            let n = try await writer.write(pattern(from: offset, count: chunk))
            #expect(n == chunk)
            offset += n
        } catch let error as IOError where error.kind == .wouldBlock {
            return (offset + (error.bytesTransferred ?? 0), error)
        }
    }
    throw IOError(.invalidArgument, "the socket never filled up")
}

/// Sends pattern bytes from `offset` with raw non-blocking sends until the socket is full; returns
/// the new offset. Leaves `socket` in its previous mode.
private func fillSocket(_ socket: Socket, from offset: Int) async throws -> Int {
    let saved = socket.timeout
    try socket.setTimeout(.nonBlocking)
    defer { try? socket.setTimeout(saved) }
    var offset = offset
    while true {
        do {
            offset += try await socket.send(pattern(from: offset, count: 65_536))
        } catch let error as IOError where error.kind == .wouldBlock {
            return offset
        }
    }
}

/// Reads everything `peer` has now (non-blocking) and checks it continues the pattern at `offset`.
/// Returns the new offset.
private func drainPattern(_ peer: Socket, at offset: Int) async throws -> Int {
    var offset = offset
    while let chunk = try await pendingBytes(peer), !chunk.isEmpty {
        #expect(chunk == pattern(from: offset, count: chunk.count), "content differs after \(offset) bytes")
        offset += chunk.count
    }
    return offset
}

/// CPY-51 … CPY-56, EVT-10 and EVT-13: the buffered writer.
@Suite("Buffered writer", .timeLimit(.minutes(1)))
struct BufferedWriterTests {
    @Test("CPY-51 buffered write + flush delivers MSG exactly — writer and rwb pair; nothing is sent before the flush")
    func writeFlush() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let writer = try #require(try a.makefile("wb").writer)
            #expect(try await writer.write(referenceMessage) == referenceMessage.count)
            #expect(writer.bufferedByteCount == referenceMessage.count)
            #expect(try await pendingBytes(b) == nil)
            try await writer.flush()
            #expect(writer.bufferedByteCount == 0)
            #expect(try await receive(referenceMessage.count, from: b) == referenceMessage)
            try await writer.close()

            let pair = try #require(try a.makefile("rwb").pair)
            #expect(try await pair.write(referenceMessage) == referenceMessage.count)
            #expect(try await pendingBytes(b) == nil)
            try await pair.flush()
            #expect(try await receive(referenceMessage.count, from: b) == referenceMessage)
            // close() flushes.
            try await pair.write(referenceMessage)
            try await pair.close()
            #expect(try await receive(referenceMessage.count, from: b) == referenceMessage)
            #expect(try await pendingBytes(b) == nil)
        }
    }

    @Test("CPY-52 buffer size 4: a 2-byte write is not sent; 3 more bytes push the first 2 out; a 10-byte write passes through")
    func smallBuffer() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let writer = try #require(try a.makefile("wb", buffering: 4).writer)
            #expect(try await writer.write(bytes("ab")) == 2)
            #expect(try await pendingBytes(b) == nil)
            #expect(try await writer.write(bytes("cde")) == 3)
            #expect(try await pendingBytes(b) == bytes("ab"))
            #expect(writer.bufferedByteCount == 3)
            #expect(try await writer.write(bytes("0123456789")) == 10)
            #expect(try await receive(13, from: b) == bytes("cde0123456789"))
            #expect(writer.bufferedByteCount == 0)
            #expect(try await pendingBytes(b) == nil)
            // Exactly the buffer size is buffered, one more byte is not.
            #expect(try await writer.write(bytes("wxyz")) == 4)
            #expect(try await pendingBytes(b) == nil)
            #expect(try await writer.write(bytes("!")) == 1)
            #expect(try await pendingBytes(b) == bytes("wxyz"))
            try await writer.flush()
            #expect(try await pendingBytes(b) == bytes("!"))
            try await writer.close()
        }
    }

    @Test("CPY-53 non-blocking full socket: write throws wouldBlock with the accepted part, flush with 0; after the peer drains flush succeeds and the peer has exactly the accepted total")
    func nonBlockingFull() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let writer = try a.makeWriter()
            let (accepted, error) = try await writeUntilWouldBlock(writer, from: 0)
            let partial = try #require(error.bytesTransferred)
            #expect(partial >= 0 && partial < 10_000)
            #expect(error.errno == .wouldBlock)
            #expect(writer.bufferedByteCount > 0)
            let flushError = await expectIOError(.wouldBlock) { try await writer.flush() }
            #expect(flushError?.bytesTransferred == 0)
            // The peer drains; flush eventually succeeds.
            var received = 0
            var flushed = false
            for _ in 0..<10_000 where !flushed {
                received = try await drainPattern(b, at: received)
                do {
                    try await writer.flush()
                    flushed = true
                } catch let error as IOError where error.kind == .wouldBlock {
                    #expect(error.bytesTransferred == 0)
                }
            }
            #expect(flushed)
            #expect(writer.bufferedByteCount == 0)
            received = try await drainPattern(b, at: received)
            #expect(received == accepted)
            try await writer.close()
            #expect(try await pendingBytes(b) == nil)
        }
    }

    @Test("CPY-54 mock raw, buffer 8: abcd=4, efghi=5, block on k: jklmn=5, block on 0: 18 bytes throw with 16 accepted; then ABCDEFGHI=9 and 01234567A…")
    func mockNonBlockingWriter() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(timeout: .nonBlocking)
            let writer = try BufferedWriter(SocketIO(mock, mode: "wb"), bufferSize: 8)
            #expect(try await writer.write(bytes("abcd")) == 4)
            #expect(try await writer.write(bytes("efghi")) == 5)
            mock.blocker = UInt8(ascii: "k")
            #expect(try await writer.write(bytes("jklmn")) == 5)
            mock.blocker = UInt8(ascii: "0")
            let error = await expectIOError(.wouldBlock) { try await writer.write(bytes("opqrwxyz0123456789")) }
            #expect(error?.bytesTransferred == 16)
            #expect(mock.popWritten() == bytes("abcdefghijklmnopqrwxyz"))
            // The blocker cancelled itself when hit: the raw accepts everything now.
            #expect(try await writer.write(bytes("ABCDEFGHI")) == 9)
            let sent = mock.popWritten()
            #expect(sent.starts(with: bytes("01234567A")), "\(sent)")
            try await writer.flush()
            #expect(sent + mock.popWritten() == bytes("01234567ABCDEFGHI"))
        }
    }

    @Test("CPY-55 close() with unflushable data on a full non-blocking socket throws wouldBlock, and the writer is closed and released")
    func closeUnflushable() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(.nonBlocking)
            let writer = try a.makeWriter()
            _ = try await writeUntilWouldBlock(writer, from: 0)
            #expect(writer.bufferedByteCount > 0)
            #expect(a.fileReferences == 1)
            await expectIOError(.wouldBlock) { try await writer.close() }
            #expect(writer.isClosed)
            #expect(writer.bufferedByteCount == 0)
            #expect(a.fileReferences == 0)
            #expect(writer.name == -1)
            await expectIOError(.invalidArgument, message: "write to closed file") { try await writer.write(bytes("x")) }
            await expectIOError(.invalidArgument, message: "flush of closed file") { try await writer.flush() }
            try await writer.close()
        }
    }

    @Test("CPY-56 timeout while writing: timedOut, buffered bytes kept, a later flush delivers exactly what write accepted; after a partial pass-through the writer still works")
    func timeoutWhileWriting() async throws {
        try await onHub(limit: .seconds(30)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.1)
            let writer = try a.makeWriter(bufferSize: 100)
            var offset = try await fillSocket(a, from: 0)
            #expect(try await writer.write(pattern(from: offset, count: 50)) == 50)
            offset += 50
            await expectIOError(.timedOut, message: "timed out") { try await writer.flush() }
            #expect(writer.bufferedByteCount == 50)
            // 60 more bytes do not fit: making room times out, nothing of them is accepted.
            await expectIOError(.timedOut) { try await writer.write(pattern(from: offset, count: 60)) }
            #expect(writer.bufferedByteCount == 50)
            // A reader drains; the flush delivers exactly the accepted bytes.
            let expected = offset
            let reader = Hub.current!.spawn { () async throws -> Int in
                var received = 0
                while received < expected {
                    let chunk = try await b.recv(65_536)
                    #expect(chunk == pattern(from: received, count: chunk.count))
                    received += chunk.count
                }
                return received
            }
            try a.setTimeout(seconds: 10)
            try await writer.flush()
            #expect(try await reader.value == expected)
            #expect(try await pendingBytes(b) == nil)

            // A large write that passes through the buffer times out part-way: the writer stays usable.
            try a.setTimeout(seconds: 0.1)
            await expectIOError(.timedOut) { try await writer.write([UInt8](repeating: 7, count: 4 << 20)) }
            let tail = bytes("tail")
            let collector = Hub.current!.spawn { try await readToEnd(b) }
            try a.setTimeout(seconds: 10)
            #expect(try await writer.write(tail) == 4)
            try await writer.close()
            a.close()
            let rest = try await collector.value
            #expect(rest.count > 4 && rest.count < (4 << 20) + 4)
            #expect(rest.dropLast(4).allSatisfy { $0 == 7 })
            #expect(Array(rest.suffix(4)) == tail)
        }
    }

    @Test("EVT-10 raw sends capped at 1031 bytes: 10 000 lines of 2140 bytes arrive as exactly 21 400 000 bytes of the right content")
    func partialWrites() async throws {
        try await onHub(limit: .seconds(50)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let capped = CappedSendSocket(a, cap: 1031)
            let writer = try #require(try capped.makefile("wb").writer)
            let lineCount = 10_000
            let lineLength = 2140
            let body = [UInt8]((0..<(lineLength - 10)).map { UInt8(ascii: "a") + UInt8($0 % 26) }) + bytes("\n")
            func header(_ index: Int) -> [UInt8] {
                var digits = Array(String(index).utf8)
                while digits.count < 8 { digits.insert(UInt8(ascii: "0"), at: 0) }
                return digits + [UInt8(ascii: " ")]
            }
            let reader = Hub.current!.spawn { () async throws -> (lines: Int, bytes: Int, bad: Int) in
                let input = try b.makeReader()
                defer { input.close() }
                var lines = 0, total = 0, bad = 0
                while true {
                    let line = try #require(try await input.read(lineLength))
                    if line.isEmpty { break }
                    total += line.count
                    let ok = line.count == lineLength && line.prefix(9).elementsEqual(header(lines))
                        && line.withUnsafeBytes { got in
                            body.withUnsafeBytes { memcmp(got.baseAddress! + 9, $0.baseAddress!, body.count) == 0 }
                        }
                    if !ok { bad += 1 }
                    lines += 1
                }
                return (lines, total, bad)
            }
            var line = [UInt8](repeating: 0, count: lineLength)
            line.replaceSubrange(9..., with: body)
            for index in 0..<lineCount {
                line.replaceSubrange(0..<9, with: header(index))
                #expect(try await writer.write(line) == lineLength)
            }
            try await writer.close()
            a.close()
            let result = try await reader.value
            #expect(result.bytes == lineCount * lineLength)
            #expect(result.lines == lineCount)
            #expect(result.bad == 0)
            #expect(capped.largestSend <= 1031)
            #expect(capped.sendCalls >= lineCount * lineLength / 1031)
        }
    }

    @Test("EVT-13 non-blocking writer (rwb pair over TCP): raw write gives nil, buffered write throws with the accepted count, flush with 0; nothing accepted is lost")
    func nonBlockingWriter() async throws {
        try await onHub(limit: .seconds(20)) {
            let (client, server) = try await tcpPair()
            defer { client.close(); server.close() }
            try client.setOption(.sendBufferSize, 16_384)
            try server.setOption(.receiveBufferSize, 16_384)
            try client.setTimeout(seconds: 0)
            // TCP can free send-buffer space for a while after a would-block (the peer's delayed
            // ACKs), which would let the raw write below through: fill the socket until a pause
            // brings no more room (the peer's window is then zero and stays so).
            var filled = try await fillSocket(client, from: 0)
            for _ in 0..<100 {
                try await Hub.sleep(for: .milliseconds(50))
                let more = try await fillSocket(client, from: filled)
                if more == filled { break }
                filled = more
            }
            let pair = try client.makeReadWritePair()
            let (accepted, error) = try await writeUntilWouldBlock(pair.writer, from: filled, chunk: 1000)
            #expect(error.bytesTransferred.map { $0 >= 0 && $0 < 1000 } == true)
            let raw = try client.makeSocketIO(mode: "wb")
            #expect(try await raw.write(bytes("x")) == nil)
            raw.close()
            let flushError = await expectIOError(.wouldBlock) { try await pair.flush() }
            #expect(flushError?.bytesTransferred == 0)
            // The peer reads everything; the writer's close (blocking now) flushes the rest.
            let reader = Hub.current!.spawn { try await readToEnd(server) }
            try client.setTimeout(.blocking)
            try await pair.close()
            client.close()
            let got = try await reader.value
            #expect(got.count == accepted)
            #expect(got == pattern(from: 0, count: accepted))
        }
    }

    @Test("Deadline: flush(deadline:) on a full blocking socket times out at the deadline and keeps the buffered bytes")
    func flushDeadline() async throws {
        try await onHub(limit: .seconds(20)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let writer = try a.makeWriter()
            let filled = try await fillSocket(a, from: 0)
            #expect(try await writer.write(pattern(from: filled, count: 100)) == 100)
            await expectIOError(.timedOut) { try await writer.flush(deadline: .after(.milliseconds(50))) }
            #expect(writer.bufferedByteCount == 100)
            let reader = Hub.current!.spawn { try await receive(filled + 100, from: b) }
            try await writer.flush()
            #expect(try await reader.value == pattern(from: 0, count: filled + 100))
            try await writer.close()
        }
    }
}

/// Calls `body` with a stable heap copy of `bytes` (its address is the caller's memory a direct
/// send must use).
private func withSource<T>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) async throws -> T) async rethrows -> T {
    let source = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
    defer { source.deallocate() }
    source.copyBytes(from: bytes)
    return try await body(UnsafeRawBufferPointer(source))
}

/// `BufferedWriter.writeAndFlush`: write + flush in one call, sending from the caller's memory when
/// nothing is buffered.
@Suite("Buffered writer, writeAndFlush", .timeLimit(.minutes(1)))
struct BufferedWriteAndFlushTests {
    @Test("nothing buffered: the bytes go out straight from the caller's memory, in as many sends as the socket takes; the writer allocates nothing")
    func directFromCallerMemory() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw()
            let writer = try BufferedWriter(SocketIO(mock, mode: "wb"), bufferSize: 64)
            let message = bytes("hello\nworld\n")
            try await withSource(message) { source in
                try await writer.writeAndFlush(source)
                #expect(mock.sendAddresses == [source.baseAddress])
            }
            #expect(mock.popWritten() == message)
            #expect(writer.bufferedByteCount == 0)
            #expect(writer.storageCapacity == 0)
            // Larger than the buffer, 50 bytes per send: every send comes from the caller's memory.
            mock.sendLimit = 50
            mock.sendAddresses = []
            let large = pattern(from: 0, count: 200)
            try await withSource(large) { source in
                try await writer.writeAndFlush(source)
                let base = try #require(source.baseAddress)
                #expect(mock.sendAddresses == [base, base + 50, base + 100, base + 150])
            }
            #expect(mock.popWritten() == large)
            #expect(writer.storageCapacity == 0)
            // Empty: nothing to send, no send.
            mock.sendAddresses = []
            try await writer.writeAndFlush(UnsafeRawBufferPointer(start: nil, count: 0))
            #expect(mock.sendAddresses.isEmpty)
        }
    }

    @Test("bytes buffered: small bytes are copied behind them and go out in one send; larger ones after the buffer, from the caller's memory; the storage is freed")
    func behindBufferedBytes() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw()
            let writer = try BufferedWriter(SocketIO(mock, mode: "wb"), bufferSize: 64)
            #expect(try await writer.write(bytes("abc")) == 3)
            try await withSource(bytes("defg")) { try await writer.writeAndFlush($0) }
            #expect(mock.writeCalls == 1)
            #expect(mock.popWritten() == bytes("abcdefg"))
            #expect(writer.bufferedByteCount == 0)
            #expect(writer.storageCapacity == 0)

            #expect(try await writer.write(bytes("abc")) == 3)
            let large = pattern(from: 0, count: 70)
            try await withSource(large) { source in
                try await writer.writeAndFlush(source)
                #expect(mock.sendAddresses.count == 3)
                #expect(mock.sendAddresses.last == source.baseAddress)
            }
            #expect(mock.popWritten() == bytes("abc") + large)
            #expect(writer.storageCapacity == 0)
        }
    }

    @Test("non-blocking: what the socket does not take is buffered as far as it fits; bytesTransferred is what was accepted, and a later flush sends the rest")
    func nonBlocking() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(timeout: .nonBlocking)
            let writer = try BufferedWriter(SocketIO(mock, mode: "wb"), bufferSize: 8)
            // The socket stops before "k": "klm" is buffered, all 13 bytes were accepted.
            mock.blocker = UInt8(ascii: "k")
            var error = await expectIOError(.wouldBlock) { try await writer.writeAndFlush(bytes("abcdefghijklm")) }
            #expect(error?.bytesTransferred == 13)
            #expect(mock.popWritten() == bytes("abcdefghij"))
            #expect(writer.bufferedByteCount == 3)
            try await writer.flush()
            #expect(mock.popWritten() == bytes("klm"))
            // A rest larger than the buffer: 5 sent, 8 buffered, 5 not accepted.
            mock.blocker = UInt8(ascii: "5")
            error = await expectIOError(.wouldBlock) { try await writer.writeAndFlush(bytes("0123456789ABCDEFGH")) }
            #expect(error?.bytesTransferred == 13)
            #expect(mock.popWritten() == bytes("01234"))
            #expect(writer.bufferedByteCount == 8)
            try await writer.flush()
            #expect(mock.popWritten() == bytes("56789ABC"))
            // Buffered bytes the socket will not take: bytes that fit are copied behind them…
            #expect(try await writer.write(bytes("xy")) == 2)
            mock.blocker = UInt8(ascii: "x")
            error = await expectIOError(.wouldBlock) { try await writer.writeAndFlush(bytes("zz")) }
            #expect(error?.bytesTransferred == 2)
            #expect(writer.bufferedByteCount == 4)
            try await writer.flush()
            #expect(mock.popWritten() == bytes("xyzz"))
            // … and larger ones as far as they fit.
            #expect(try await writer.write(bytes("xy")) == 2)
            mock.blocker = UInt8(ascii: "x")
            error = await expectIOError(.wouldBlock) { try await writer.writeAndFlush(bytes("0123456789")) }
            #expect(error?.bytesTransferred == 6)
            #expect(writer.bufferedByteCount == 8)
            try await writer.flush()
            #expect(mock.popWritten() == bytes("xy012345"))
            #expect(writer.storageCapacity == 0)
        }
    }

    @Test("timeout: sent from the caller's memory, nothing is buffered (bytesTransferred 0); copied behind buffered bytes, they stay buffered (bytesTransferred = their count); a later flush delivers exactly those")
    func timeout() async throws {
        try await onHub(limit: .seconds(30)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            try a.setTimeout(seconds: 0.1)
            let writer = try a.makeWriter(bufferSize: 100)
            var offset = try await fillSocket(a, from: 0)
            var error = await expectIOError(.timedOut, message: "timed out") {
                try await writer.writeAndFlush([UInt8](repeating: 0xFF, count: 60))
            }
            #expect(error?.bytesTransferred == 0)
            #expect(writer.bufferedByteCount == 0)
            #expect(try await writer.write(pattern(from: offset, count: 50)) == 50)
            offset += 50
            error = await expectIOError(.timedOut) { try await writer.writeAndFlush(pattern(from: offset, count: 20)) }
            offset += 20
            #expect(error?.bytesTransferred == 20)
            #expect(writer.bufferedByteCount == 70)
            // A deadline shorter than the socket's timeout ends the call as well.
            try a.setTimeout(seconds: 10)
            await expectIOError(.timedOut) { try await writer.flush(deadline: .after(.milliseconds(50))) }
            let expected = offset
            let reader = Hub.current!.spawn { try await receive(expected, from: b) }
            try await writer.writeAndFlush([])
            #expect(try await reader.value == pattern(from: 0, count: expected))
            #expect(try await pendingBytes(b) == nil)
            #expect(writer.storageCapacity == 0)
        }
    }

    @Test("the array form, the rwb pair's, a closed writer")
    func arrayPairClosed() async throws {
        try await onHub(limit: .seconds(10)) {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let pair = try #require(try a.makefile("rwb").pair)
            try await pair.writeAndFlush(referenceMessage)
            #expect(try await receive(referenceMessage.count, from: b) == referenceMessage)
            #expect(pair.writer.bufferedByteCount == 0)
            #expect(pair.writer.storageCapacity == 0)
            try await pair.write(bytes("head "))
            try await pair.writer.writeAndFlush(bytes("tail"))
            #expect(try await receive(9, from: b) == bytes("head tail"))
            try await pair.close()
            await expectIOError(.invalidArgument, message: "write to closed file") {
                try await pair.writer.writeAndFlush(bytes("x"))
            }
        }
    }
}
