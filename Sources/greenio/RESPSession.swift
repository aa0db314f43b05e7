import GreenIO

/// What `greenio serve --protocol resp` shares between its connections.
struct RESPSettings: Sendable {
    /// The longest bulk string accepted (`--max-bulk`); a longer one is a protocol error.
    var maxBulk: Int
    /// The commands, on the process's one key space.
    var commands: RESPCommands
}

/// One client connection of `greenio serve --protocol resp`, served by its own green thread
/// through GreenIO's file objects (`makeReadWritePair`): each command is read with
/// `RESPCommandReader` and answered into the buffered writer, which is flushed when the reader has
/// no buffered input left (or must wait for the rest of a command), so a pipelined batch gets its
/// replies in one send.
struct RESPSession<Connection: EchoConnection>: Sendable {
    let socket: Connection
    let name: ConnectionName
    /// The per-command timeout (`lineTimeout`: from the connection or the previous command to the
    /// end of the next one), `maxLine` for each line, and the linger time.
    let settings: EchoSettings
    let resp: RESPSettings

    /// The most input discarded while lingering before a close.
    private static var lingerByteLimit: Int { 1 << 20 }

    /// Prepares the connection (TCP_NODELAY, or the TLS handshake within the first command's
    /// deadline), serves it to its end, logs how it ended and closes the socket.
    func run() async {
        let firstDeadline = settings.lineTimeout.map { Deadline.after($0) }
        await socket.serve(as: name, firstDeadline: firstDeadline) {
            try await serveCommands(firstDeadline: firstDeadline)
        }
    }

    /// Reads and answers commands until the stream ends, the client quits, breaks the protocol or
    /// times out; returns why the connection ended.
    private func serveCommands(firstDeadline: Deadline?) async throws -> String {
        let file = try socket.makeReadWritePair()
        defer { file.reader.close() }  // Releases the file's reference; unsent replies are dropped.
        let commands = RESPCommandReader(file: file, connection: socket, maxLine: settings.maxLine, maxBulk: resp.maxBulk)
        var reply: [UInt8] = []
        var deadline = firstDeadline
        while true {
            let arguments: [[UInt8]]
            do {
                if let buffered = try commands.nextBuffered() {
                    arguments = buffered
                } else {
                    guard let next = try await commands.next(deadline: deadline) else { return "end of stream" }
                    arguments = next
                }
            } catch let error as RESPProtocolError {
                reply.removeAll(keepingCapacity: true)
                RESPReply.error("ERR \(error)").encode(into: &reply)
                await sayGoodbye(reply, file: file)
                return "protocol error: \(error.message)"
            } catch let error as IOError where error.kind == .timedOut {
                return "timeout"  // As Redis, an idle client is closed without a reply.
            }
            let (answer, closes) = resp.commands.execute(arguments)
            reply.removeAll(keepingCapacity: true)
            answer.encode(into: &reply)
            deadline = settings.lineTimeout.map { Deadline.after($0) }
            if closes {
                await sayGoodbye(reply, file: file)
                return "quit"
            }
            try await file.write(reply, deadline: deadline)
            // Pipelining: answer every command already received, then send the replies at once
            // (`commands` also flushes before it has to wait in the middle of a command).
            if file.reader.bufferedByteCount == 0 { try await file.flush(deadline: deadline) }
        }
    }

    /// Sends the replies still buffered and `last`, ends the server's side, and reads and discards
    /// input for a while, so that the close that follows does not reset the connection before the
    /// client has read them. Best effort.
    private func sayGoodbye(_ last: [UInt8], file: BufferedRWPair) async {
        let deadline = Deadline.after(settings.lingerTime)
        do {
            try await file.write(last, deadline: deadline)
            try await file.flush(deadline: deadline)
            try socket.shutdown(.write)
        } catch {
            return
        }
        var discarded = 0
        while discarded < Self.lingerByteLimit {
            guard let bytes = try? await file.reader.read1(65536, deadline: deadline), !bytes.isEmpty else { return }
            discarded += bytes.count
        }
    }
}
