import GreenIO

/// Fuzzes `greenio`'s `RESPCommandReader` (compiled into the fuzzer unchanged) over a scripted
/// stream, answering each command into the writer so that the reader's non-blocking "try the
/// next line before flushing" path runs too.
///
/// Input: options byte (bit 0: reply to commands; bit 1: as the server does, take each command
/// from the buffer in place first, `nextBuffered`, and read it only when that declines), maxLine byte, maxBulk byte, buffer-size byte,
/// plan section, then the stream.
///
/// Invariants: the commands, and the protocol error or end that stops them, are those of
/// `RESPModel`; after each command the reader has consumed exactly the stream through it (no
/// read beyond the command); the socket is back in its own timeout mode after every command;
/// every reply written reaches the socket.
struct RESPTarget {
    let socket: ScriptedSocket
    let file: BufferedRWPair
    let reader: RESPCommandReader
    let model: RESPModel
    let replies: Bool
    let buffered: Bool

    init(_ input: inout FuzzInput) throws {
        let options = input.byte()
        replies = options & 1 != 0
        buffered = options & 2 != 0
        let lineByte = input.byte()
        let maxLine = lineByte >= 0xF0 ? 64 * 1024 : Int(lineByte % 64) + 1
        let bulkByte = input.byte()
        let maxBulk = bulkByte >= 0xF0 ? 512 * 1024 * 1024 : Int(bulkByte % 64)
        let sizeByte = input.byte()
        let bufferSize = sizeByte >= 0xF0 ? 8192 : Int(sizeByte % 64) + 1
        let plan = ScriptedSocket.plan(from: input.section(), timeouts: false)
        let stream = input.rest()
        socket = ScriptedSocket(stream: stream, plan: plan, ending: .endOfStream, timeout: .blocking)
        file = try BufferedRWPair(SocketIO(socket, mode: "rwb"), bufferSize: bufferSize)
        reader = RESPCommandReader(file: file, connection: socket, maxLine: maxLine, maxBulk: maxBulk)
        model = RESPModel(stream, maxLine: maxLine, maxBulk: maxBulk)
    }

    func run() async throws {
        var index = 0
        var written = 0
        var outcome: String?
        do {
            while let arguments = try await nextCommand() {
                check(index < model.commands.count, "command \(index) beyond the model's \(model.commands.count)")
                let expected = model.commands[index]
                check(arguments == expected.arguments, "command \(index) differs from the model")
                let consumed = socket.delivered - file.reader.bufferedByteCount
                check(consumed == expected.end, "command \(index) ends at \(consumed), model at \(expected.end)")
                check(socket.timeout == .blocking, "socket left in \(socket.timeout)")
                index += 1
                if replies {
                    let reply: [UInt8] = Array("+OK\r\n".utf8)
                    written += try await file.write(reply)
                }
            }
        } catch let error as RESPProtocolError {
            outcome = error.description
        }
        check(index == model.commands.count, "\(index) commands read, model has \(model.commands.count)")
        check(outcome == model.error, "outcome \(outcome ?? "end") differs from the model's \(model.error ?? "end")")
        try await file.flush()
        check(socket.sent.count == written, "\(written) reply bytes written, \(socket.sent.count) sent")
        try await file.close()
    }

    /// The next command, from the buffer in place when `buffered` and it has arrived whole.
    private func nextCommand() async throws -> [[UInt8]]? {
        if buffered, let arguments = try reader.nextBuffered() { return arguments }
        return try await reader.next(deadline: nil)
    }
}
