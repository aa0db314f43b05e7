import GreenIO
import GreenIOServer

/// `greenio serve`'s line echo: every line received is written back byte for byte, through the
/// connection's buffered reader and writer, until the client ends its side or breaks a limit.
enum EchoHandler {
    static let timeoutReply = Array("ERR timeout\n".utf8)
    static let lineTooLongReply = Array("ERR line too long\n".utf8)

    /// Serves one connection: echoes every complete line received with one send per batch
    /// (`withCompleteLines` lends the batch in place, `writeAndFlush` sends it from there: no
    /// array per line, no copy, and the batch is answered before the next wait), answers a line
    /// timeout with `ERR timeout` and an over-long line with `ERR line too long` before closing,
    /// and echoes a final unterminated line at the end of the stream.
    @Sendable static func serve(_ connection: ServerConnection) async throws -> CloseReason {
        while true {
            let more: Bool
            do {
                more = try await connection.withCompleteLines { lines in
                    if lines.isEmpty { return false }
                    try await connection.writeAndFlush(lines)
                    return true
                }
            } catch {
                return try await end(connection, after: error)
            }
            if !more { return .endOfStream }
        }
    }

    /// Ends a connection whose read failed: answers a line timeout with `ERR timeout` and an
    /// over-long line with `ERR line too long`, rethrows anything else. Out of line, so that the
    /// loop's async frame, which an idle connection holds while it waits, stays small.
    @inline(never)
    private static func end(_ connection: ServerConnection, after error: any Error) async throws -> CloseReason {
        guard let ioError = error as? IOError else { throw error }
        switch ioError.kind {
        case .timedOut where !connection.sendTimedOut:
            await connection.sendFinalReply(timeoutReply)
            return .timeout
        case .lineTooLong:
            await connection.sendFinalReply(lineTooLongReply)
            return .lineTooLong
        default:
            throw error
        }
    }
}
