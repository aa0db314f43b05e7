import GreenIO
import GreenIOServer

/// `greenio serve --protocol resp`: each connection's commands are read with `RESPCommandReader`
/// and answered into the buffered writer, which is flushed when the reader has no buffered input
/// left (or must wait for the rest of a command), so a pipelined batch gets its replies in one send.
struct RESPHandler: Sendable {
    /// The longest bulk string accepted (`--max-bulk`); a longer one is a protocol error.
    let maxBulk: Int
    /// The commands, on the process's one key space.
    let commands: RESPCommands

    /// Reads and answers commands until the stream ends, the client quits, breaks the protocol or
    /// times out (closed without a reply, as Redis does).
    func serve(_ connection: ServerConnection) async throws -> CloseReason {
        guard let socket = connection.socket as? any EchoConnection else { return .endOfStream }
        let file = connection.file
        let reader = RESPCommandReader(file: file, connection: socket, maxLine: connection.policy.maxLineLength, maxBulk: maxBulk)
        var reply: [UInt8] = []
        while true {
            let arguments: [[UInt8]]
            do {
                if let buffered = try reader.nextBuffered() {
                    arguments = buffered
                } else {
                    guard let next = try await reader.next(deadline: connection.lineDeadline) else { return .endOfStream }
                    arguments = next
                }
            } catch let error as RESPProtocolError {
                reply.removeAll(keepingCapacity: true)
                RESPReply.error("ERR \(error)").encode(into: &reply)
                await connection.sendFinalReply(reply)
                return .protocolError(error.message)
            }
            connection.renewLineDeadline()
            connection.countRequest()
            let (answer, closes) = commands.execute(arguments)
            reply.removeAll(keepingCapacity: true)
            answer.encode(into: &reply)
            if closes {
                await connection.sendFinalReply(reply)
                return .finished("quit")
            }
            try await connection.write(reply)
            if file.reader.bufferedByteCount == 0 { try await connection.flush() }
        }
    }
}
