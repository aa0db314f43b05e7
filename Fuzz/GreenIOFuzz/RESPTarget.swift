import GreenIO
import GreenIORESP

/// Fuzzes GreenIORESP's request path two ways over one scripted stream, both against `RESPModel`:
///
/// 1. `RESPDecoder` directly, fed as a reader's buffer feeds it: the plan's data steps are the
///    arrivals (the rest arrives last; a would-block or timeout step is a call with nothing new),
///    and the bytes each call consumed are dropped before the next. A fresh decoder, given the same
///    bytes at every call, must answer the same as the one that resumes its state.
/// 2. `RESPConnection.serve`, the real command loop, over a `ScriptedSocket` serving the stream in
///    the same steps (timeouts included) and ending as the options say, with a handler that records
///    each command and replies with its arguments.
///
/// Input: options byte (how the stream ends), maxLine byte, maxBulk byte, maxArguments byte,
/// buffer-size byte, plan section, then the stream.
///
/// Invariants: (1) the commands with their end offsets, and the protocol error or end, are the
/// model's; every consumed count is within the bytes given; no command ends before the bytes the
/// decoder says are missing have arrived. (2) the loop runs a prefix of the
/// model's commands, each once exactly the stream through it is consumed; whenever it waits for
/// input, every command that has arrived whole has run and every reply has been flushed; it ends
/// as the model says (QUIT at the first QUIT, the model's protocol error, the end of the stream
/// after all commands, a timeout only at a scripted one); after a final flush the socket has
/// received exactly the replies to the commands run, then the error reply.
struct RESPTarget {
    let stream: [UInt8]
    let plan: [ScriptedSocket.Step]
    let ending: ScriptedSocket.Ending
    let decoder: RESPDecoder
    let bufferSize: Int
    let model: RESPModel

    init(_ input: inout FuzzInput) {
        let options = input.byte()
        ending = ScriptedSocket.Ending.allCases[Int(options) % 3]
        let lineByte = input.byte()
        let maxLine = lineByte >= 0xF0 ? 64 * 1024 : Int(lineByte % 64) + 1
        let bulkByte = input.byte()
        let maxBulk = bulkByte >= 0xF0 ? 512 * 1024 * 1024 : Int(bulkByte % 64)
        let argumentsByte = input.byte()
        let maxArguments = argumentsByte >= 0xF0 ? 1024 * 1024 : Int(argumentsByte % 64)
        let sizeByte = input.byte()
        bufferSize = sizeByte >= 0xF0 ? 8192 : Int(sizeByte % 64) + 1
        plan = ScriptedSocket.plan(from: input.section(), timeouts: true)
        stream = input.rest()
        decoder = RESPDecoder(maxLine: maxLine, maxBulk: maxBulk, maxArguments: maxArguments)
        model = RESPModel(stream, maxLine: maxLine, maxBulk: maxBulk, maxArguments: maxArguments)
    }

    func run() async throws {
        decodeDirectly()
        try await serve()
    }

    // MARK: The decoder alone

    private func decodeDirectly() {
        var resumed = decoder
        var buffer: [UInt8] = []
        var delivered = 0
        var consumed = 0
        var index = 0
        var steps = plan[...]
        while true {
            // Everything decodable from what has arrived.
            decoding: while true {
                let decoding = buffer.withUnsafeBytes { resumed.decode($0) }
                var fresh = decoder
                check(buffer.withUnsafeBytes { fresh.decode($0) } == decoding, "a fresh decoder differs at \(consumed)")
                check((0...buffer.count).contains(decoding.consumed), "consumed \(decoding.consumed) of \(buffer.count)")
                buffer.removeFirst(decoding.consumed)
                consumed += decoding.consumed
                switch decoding {
                case .command(let arguments, _):
                    check(index < model.commands.count, "command \(index) beyond the model's \(model.commands.count)")
                    check(arguments == model.commands[index].arguments, "command \(index) differs from the model")
                    check(consumed == model.commands[index].end, "command \(index) ends at \(consumed), model at \(model.commands[index].end)")
                    index += 1
                case .needMore:
                    // The bytes it says are missing are really needed before anything new.
                    let missing = resumed.missingByteCount
                    check(missing >= 1, "needMore with \(missing) bytes missing")
                    if index < model.commands.count {
                        check(model.commands[index].end >= consumed + buffer.count + missing,
                              "\(missing) bytes said missing, command \(index) ends at \(model.commands[index].end)")
                    }
                    break decoding
                case .protocolError(let error):
                    check(index == model.commands.count, "error after \(index) commands, model has \(model.commands.count)")
                    check(error.description == model.error, "error \(error) differs from the model's \(model.error ?? "end")")
                    return
                }
            }
            if delivered == stream.count { break }
            var size = stream.count - delivered
            if let step = steps.popFirst() {
                if case .data(let count) = step { size = min(count, size) } else { size = 0 }
            }
            buffer += stream[delivered..<(delivered + size)]
            delivered += size
        }
        check(index == model.commands.count, "\(index) commands decoded, model has \(model.commands.count)")
        check(model.error == nil, "end of stream where the model has \(model.error ?? "")")
    }

    // MARK: The command loop

    private func serve() async throws {
        let socket = ScriptedSocket(stream: stream, plan: plan, ending: ending, timeout: .blocking)
        let file = try BufferedRWPair(SocketIO(socket, mode: "rwb"), bufferSize: bufferSize)
        let handler = RecordingHandler()
        handler.position = { socket.delivered - file.reader.bufferedByteCount }
        let model = model
        socket.onReceive = {
            check(file.writer.bufferedByteCount == 0, "waiting for input with \(file.writer.bufferedByteCount) reply bytes unsent")
            let arrived = model.commands.prefix { $0.end <= socket.delivered }.count
            check(handler.executed.count == arrived, "waiting for input with \(arrived - handler.executed.count) whole commands not run")
        }
        var end: RESPEnd?
        do {
            end = try await RESPConnection(commands: handler, decoder: decoder).serve(file: file, firstDeadline: nil) { nil }
        } catch where ScriptedSocket.Ending.isEnd(error) {
            end = nil  // The stream's end as an error: as `.endOfStream`.
        }
        socket.onReceive = nil

        let executed = handler.executed
        check(executed.count <= model.commands.count, "\(executed.count) commands run, model has \(model.commands.count)")
        for (index, command) in executed.enumerated() {
            check(command.arguments == model.commands[index].arguments, "command \(index) differs from the model")
            check(command.end == model.commands[index].end, "command \(index) ran at \(command.end), model ends it at \(model.commands[index].end)")
        }
        let quit = model.commands.firstIndex { RecordingHandler.closes($0.arguments) }
        var expected: [UInt8] = []
        for command in executed { RecordingHandler.reply(to: command.arguments).encode(into: &expected) }
        switch end {
        case .quit:
            check(quit.map { $0 + 1 } == executed.count, "QUIT after \(executed.count) commands, the model's first is \(quit ?? -1)")
        case .protocolError(let error):
            check(quit == nil && executed.count == model.commands.count, "protocol error after \(executed.count) commands")
            check(error.description == model.error, "error \(error) differs from the model's \(model.error ?? "end")")
            RESPReply.error("ERR \(error)").encode(into: &expected)
        case .endOfStream, nil:
            check(quit == nil && executed.count == model.commands.count, "end after \(executed.count) commands")
            check(model.error == nil, "end of stream where the model has \(model.error ?? "")")
            check(socket.isExhausted, "end of stream after \(socket.delivered) of \(stream.count) bytes")
        case .timeout:
            check(socket.timeoutsServed > 0, "timeout without a scripted one")
            check(quit.map { $0 >= executed.count } ?? true, "timeout after QUIT")
        }
        try await file.flush()
        check(socket.sent == expected, "\(socket.sent.count) bytes sent, \(expected.count) expected, or different")
        try await file.close()
    }
}

/// Records each command and the stream offset consumed when it runs; replies with its arguments
/// (an array of bulk strings), and ends the connection at QUIT (any case).
final class RecordingHandler: RESPCommandHandler, @unchecked Sendable {
    private(set) var executed: [(arguments: [[UInt8]], end: Int)] = []
    var position: () -> Int = { 0 }

    func execute(_ arguments: [[UInt8]]) -> (reply: RESPReply, closes: Bool) {
        executed.append((arguments, position()))
        return (Self.reply(to: arguments), Self.closes(arguments))
    }

    static func reply(to arguments: [[UInt8]]) -> RESPReply { .array(arguments.map { .bulk($0) }) }

    static func closes(_ arguments: [[UInt8]]) -> Bool {
        arguments.first.map { String(decoding: $0, as: UTF8.self).uppercased() == "QUIT" } ?? false
    }
}
