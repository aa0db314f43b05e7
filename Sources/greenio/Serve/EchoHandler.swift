import GreenIO
import GreenIOServer

/// `greenio serve`'s line echo: every line received is written back byte for byte, through the
/// connection's buffered reader and writer, until the client ends its side or breaks a limit.
enum EchoHandler {
    static let timeoutReply = Array("ERR timeout\n".utf8)
    static let lineTooLongReply = Array("ERR line too long\n".utf8)

    /// Serves one connection: echoes lines (flushing once no complete line is left to read),
    /// answers a line timeout with `ERR timeout` and an over-long line with `ERR line too long`
    /// before closing, and echoes a final unterminated line at the end of the stream.
    @Sendable static func serve(_ connection: ServerConnection) async throws -> CloseReason {
        while true {
            let line: [UInt8]
            do {
                line = try await connection.readLine()
            } catch let error as IOError where error.kind == .timedOut {
                await connection.sendFinalReply(timeoutReply)
                return .timeout
            } catch let error as IOError where error.kind == .lineTooLong {
                await connection.sendFinalReply(lineTooLongReply)
                return .lineTooLong
            }
            if line.isEmpty {
                try await connection.flush()
                return .endOfStream
            }
            try await connection.write(line)
            if connection.reader.bufferedByteCount == 0 { try await connection.flush() }
        }
    }
}
