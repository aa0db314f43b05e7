import GreenIO

/// Why `RESPConnection.serve` stopped.
public enum RESPEnd: Sendable, Equatable {
    /// The client ended the stream (a command it cut short is dropped).
    case endOfStream
    /// The client sent QUIT; its `+OK` was written.
    case quit
    /// The client broke the protocol; `-ERR Protocol error: …` was written.
    case protocolError(RESPProtocolError)
    /// The next command did not arrive whole within its deadline; nothing was written for it (as
    /// Redis closes an idle client without a reply).
    case timeout
}

/// What runs the commands `RESPConnection` decodes: `RESPCommands`, or a server's own.
public protocol RESPCommandHandler: Sendable {
    /// Runs one command (`arguments[0]` names it; there is at least one argument).
    /// - Returns: the reply, and whether the connection ends after it (QUIT).
    func execute(_ arguments: [[UInt8]]) -> (reply: RESPReply, closes: Bool)
}

extension RESPCommands: RESPCommandHandler {}

/// Serves one client connection of a RESP2 server: decodes each command with a ``RESPDecoder``
/// straight from the reader's buffer, runs it on ``RESPConnection/commands`` (a
/// ``RESPCommandHandler``) and writes the ``RESPReply`` into the writer.
///
/// Replies are sent when the next command has not arrived whole, just before waiting for more input
/// (or earlier, when they fill the writer's buffer): a pipelined batch gets its replies in one
/// send, and a client never waits for replies the server holds back.
public struct RESPConnection<Commands: RESPCommandHandler>: Sendable {
    /// What runs the commands.
    public let commands: Commands
    /// The decoder each `serve` starts from (its limits).
    public let decoder: RESPDecoder

    /// The most room made in the reader's buffer for the rest of a bulk string before it arrives
    /// (as the 1 MiB pieces the reading path used to read): what a header's claim can cost.
    static var largestRoom: Int { 1 << 20 }

    /// A connection server running `commands`, decoding with `decoder`'s limits.
    public init(commands: Commands, decoder: RESPDecoder = RESPDecoder()) {
        self.commands = commands
        self.decoder = decoder
    }

    /// Reads and answers commands on `file` (a socket's `makeReadWritePair()`, in blocking or
    /// timeout mode) until the stream ends, the client quits, breaks the protocol or times out.
    ///
    /// Each command must arrive whole within its deadline: the first command's is `firstDeadline`,
    /// each later one's is `nextDeadline()`, asked once the command before it has been run (so the
    /// time is measured from the previous command). Replies are written and flushed within the
    /// deadline of the command that follows them. nil means no deadline.
    ///
    /// On `.quit` and `.protocolError` the last reply is written into `file`'s writer (best effort:
    /// a failure to write it is ignored) and may still be buffered with earlier ones: the caller
    /// flushes them, and should let the client read them before closing (shut down the writing
    /// side, read for a while). On `.endOfStream` and `.timeout` every reply was flushed.
    /// - Returns: why it stopped.
    /// - Throws: `IOError` from a write or flush (`.timedOut` when the client does not read its
    ///   replies in time) or from the socket (reset, TLS errors; `.wouldBlock` if the socket is
    ///   non-blocking and no input is ready), `.invalidArgument` or `.busy` if `file` is closed or
    ///   used by another green thread; `CancellationError`.
    public func serve(file: BufferedRWPair, firstDeadline: Deadline?,
                      nextDeadline: () -> Deadline?) async throws -> RESPEnd {
        var decoder = decoder
        var deadline = firstDeadline
        var reply: [UInt8] = []
        while true {
            let decoding = try file.reader.consumeBuffered { bytes in
                let decoding = decoder.decode(bytes)
                return (decoding.consumed, decoding)
            }
            switch decoding {
            case .command(let arguments, _):
                let (answer, closes) = commands.execute(arguments)
                reply.removeAll(keepingCapacity: true)
                answer.encode(into: &reply)
                deadline = nextDeadline()
                if closes {
                    await writeLast(reply, to: file, deadline: deadline)
                    return .quit
                }
                try await file.write(reply, deadline: deadline)
            case .needMore:
                // Pipelining: every command already received is answered; send the replies at
                // once, before waiting.
                if file.writer.bufferedByteCount > 0 { try await file.flush(deadline: deadline) }
                let filled: Int?
                do {
                    filled = try await file.reader.fill(room: min(decoder.missingByteCount, Self.largestRoom),
                                                        deadline: deadline)
                } catch let error as IOError where error.kind == .timedOut {
                    return .timeout
                }
                guard let filled else { throw IOError.wouldBlock() }
                if filled == 0 { return .endOfStream }
            case .protocolError(let error):
                reply.removeAll(keepingCapacity: true)
                RESPReply.error("ERR \(error)").encode(into: &reply)
                await writeLast(reply, to: file, deadline: deadline)
                return .protocolError(error)
            }
        }
    }

    /// Writes the reply that ends the connection; best effort.
    private func writeLast(_ reply: [UInt8], to file: BufferedRWPair, deadline: Deadline?) async {
        _ = try? await file.write(reply, deadline: deadline)
    }
}
