import GreenIO
import GreenIORESP
import GreenIOServer

/// `greenio serve --protocol resp`: each connection runs GreenIORESP's command loop
/// (`RESPConnection`: commands decoded in place from the reader's buffer, replies flushed once per
/// pipelined batch) on the process's one key space.
struct RESPHandler: Sendable {
    /// The longest bulk string accepted (`--max-bulk`); a longer one is a protocol error.
    let maxBulk: Int
    /// The commands, on the process's one key space.
    let commands: RESPCommands

    /// Reads and answers commands until the stream ends, the client quits, breaks the protocol or
    /// times out. Each command must arrive whole within the line timeout of the one before (the
    /// first within that of the accept); an idle client is closed without a reply, as Redis does.
    /// A QUIT's `+OK` and a protocol error's `-ERR` are sent with `sendFinalReply` before the close.
    func serve(_ connection: ServerConnection) async throws -> CloseReason {
        let loop = RESPConnection(commands: commands,
                                  decoder: RESPDecoder(maxLine: connection.policy.maxLineLength, maxBulk: maxBulk))
        let end: RESPEnd
        do {
            end = try await loop.serve(file: connection.file, firstDeadline: connection.lineDeadline) {
                connection.countRequest()
                connection.renewLineDeadline()
                return connection.lineDeadline
            }
        } catch let error as IOError where error.kind == .timedOut {
            return .sendTimeout  // The loop returns read timeouts; a thrown one was sending replies.
        }
        switch end {
        case .endOfStream:
            return .endOfStream
        case .quit:
            await connection.sendFinalReply([])
            return .finished("quit")
        case .protocolError(let error):
            await connection.sendFinalReply([])
            return .protocolError(error.message)
        case .timeout:
            return .timeout
        }
    }
}
