import Testing
@testable import GreenIO

/// `BufferedReader.consumeBuffered`: the borrowed view of the buffered bytes that parsers use for
/// messages that have arrived whole.
@Suite("Buffered consumeBuffered", .timeLimit(.minutes(1)))
struct BufferedConsumeTests {
    @Test("consumeBuffered lends exactly the buffered bytes, drops what the body consumed and never reads the socket")
    func lendsAndDrops() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "hello\nworld\n", "more")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            // Nothing buffered yet: the body sees an empty view and the socket is not read.
            let empty = try reader.consumeBuffered { (consumed: 0, value: Array($0)) }
            #expect(empty.isEmpty && mock.readCalls == 0)
            #expect(try await reader.readLine() == bytes("hello\n"))
            let seen = try reader.consumeBuffered { (consumed: 3, value: Array($0)) }
            #expect(seen == bytes("world\n"))
            #expect(reader.bufferedByteCount == 3)
            #expect(mock.readCalls == 1)
            // The rest comes through the reading methods, in order.
            #expect(try await reader.read() == bytes("ld\nmore"))
        }
    }

    @Test("consumeBuffered with a count out of range or a throwing body drops nothing")
    func badCountDropsNothing() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abc\n")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            #expect(try await reader.peek() == bytes("abc\n"))
            await expectIOError(.invalidArgument, message: "consumed count out of range") {
                try reader.consumeBuffered { (consumed: $0.count + 1, value: ()) }
            }
            await expectIOError(.invalidArgument, message: "consumed count out of range") {
                try reader.consumeBuffered { _ in (consumed: -1, value: ()) }
            }
            struct BodyFailed: Error {}
            #expect(throws: BodyFailed.self) { try reader.consumeBuffered { _ -> (consumed: Int, value: Int) in throw BodyFailed() } }
            #expect(try await reader.readLine() == bytes("abc\n"))
        }
    }

    @Test("fill appends one raw read to what is buffered, offering at least half the buffer or the room asked for")
    func fillAppends() async throws {
        try await onHub(limit: .seconds(10)) {
            let mock = MockRaw(chunks: "abc", String(repeating: "x", count: 5000), "")
            let reader = try BufferedReader(SocketIO(mock, mode: "rb"), bufferSize: 64)
            #expect(try await reader.fill() == 3)
            #expect(mock.readSizes == [64])
            #expect(try await reader.fill(room: 1000) == 1000)
            #expect(mock.readSizes.last ?? 0 >= 1000)
            #expect(reader.bufferedByteCount == 1003)
            #expect(try await reader.fill() ?? 0 >= 32)
            #expect(mock.readSizes.last ?? 0 >= 32)
            let all = try reader.consumeBuffered { (consumed: $0.count, value: Array($0)) }
            #expect(all.prefix(3) == bytes("abc")[...] && all.dropFirst(3).allSatisfy { $0 == UInt8(ascii: "x") })
        }
    }

    @Test("consumeBuffered on a closed reader is an error")
    func closedReader() async throws {
        try await onHub(limit: .seconds(10)) {
            let reader = try BufferedReader(SocketIO(MockRaw(chunks: "x"), mode: "rb"))
            reader.close()
            await expectIOError(.invalidArgument, message: "read of closed file") {
                try reader.consumeBuffered { _ in (consumed: 0, value: ()) }
            }
        }
    }
}
