import GreenIO
import Logging

/// One client connection as a ``Server``'s handler sees it: the socket (after the TLS handshake),
/// the ``ServerConnection/peer``, a logger that names the peer, buffered file objects
/// (``ServerConnection/file``, `makefile("rwb")`), and the policy's deadlines applied for you.
///
/// The handler runs in the connection's own green thread and is the only user of this object.
/// When it returns or throws, the server flushes nothing more, closes the files and the socket,
/// and logs the close with the reason.
///
/// Reading: ``ServerConnection/readLine()`` (and the borrowed-line methods
/// ``ServerConnection/withLine(_:)`` and ``ServerConnection/withCompleteLines(_:)``) apply
/// ``ConnectionPolicy/maxLineLength`` and the line deadline: the first line must be complete within
/// ``ConnectionPolicy/lineTimeout`` of the accept, each later one within `lineTimeout` of the end of
/// the one before. Writing: `write`, ``ServerConnection/flush()`` and `writeAndFlush` get
/// `lineTimeout` from the start of the call. The reader and writer are there for anything else
/// (`read(n)`, `read(until:)`, …); pass ``ServerConnection/lineDeadline`` to keep the same rule.
/// ``ServerConnection/sendFinalReply(_:)`` sends a last reply and closes politely.
public final class ServerConnection: @unchecked Sendable {
    /// The connection: a `Socket`, or a `TLSSocket` whose handshake is complete.
    public let socket: any RawSocket
    /// The client's address: the source a PROXY header named, else the socket's peer.
    public let peer: SocketAddress
    /// The PROXY header the connection started with (on a listener that requires one).
    public var proxyHeader: ProxyHeader? { proxied?.header }
    /// The load balancer, for a connection that started with a PROXY header: the socket's own
    /// peer. nil without a header.
    public var balancer: SocketAddress? { proxied?.balancer }
    /// The header and the balancer, for a proxied connection (one reference, nil otherwise).
    private let proxied: ProxiedPeer?
    /// The index of the hub serving this connection (0 ..< `ServerConfiguration.hubs`).
    public let hubIndex: Int
    /// The server's logger with this connection's `peer` and `hub` as metadata (made when first
    /// used: a connection that never logs holds none). Never log payload bytes through it at levels above
    /// `debug`.
    public var logger: Logger {
        get {
            if let box = loggerBox { return box.logger }
            let logger = makeLogger()
            loggerBox = LoggerBox(logger)
            return logger
        }
        set {
            if let box = loggerBox { box.logger = newValue } else { loggerBox = LoggerBox(newValue) }
        }
    }
    /// The logger once made (a box, so an idle connection that never logs holds one pointer).
    private var loggerBox: LoggerBox?
    /// The buffered reader and writer over `socket` (`makeReadWritePair(bufferSize:)`).
    public let file: BufferedRWPair
    /// The limits in force.
    public var policy: ConnectionPolicy { server.policy }
    // The mutable state below is used only by the handler's green thread, never across a
    // suspension by anyone else: no dynamic exclusivity checks (the line methods touch it per batch).

    /// The deadline of the line being read: set at the accept, renewed after each line that the
    /// line methods return (and by `renewLineDeadline()`); nil without a line timeout.
    @exclusivity(unchecked) public private(set) var lineDeadline: Deadline?
    /// Lines or commands counted so far (`countRequest()`; the line methods count their lines).
    @exclusivity(unchecked) public private(set) var requestCount = 0

    private let server: ServerState
    /// True once a `write` or `flush` of this connection timed out (the close reason is then
    /// "timed out sending"), so a handler can tell it from a read timeout.
    @exclusivity(unchecked) public private(set) var sendTimedOut = false

    /// The policy's limits the line methods apply, kept here (the policy is read from the server).
    @usableFromInline let maxLineLength: Int
    @usableFromInline let lineTimeout: Duration?

    init(socket: any RawSocket, peer: SocketAddress, proxied: ProxiedPeer?, hubIndex: Int, file: BufferedRWPair,
         firstDeadline: Deadline?, server: ServerState) {
        self.socket = socket
        self.peer = peer
        self.proxied = proxied
        self.hubIndex = hubIndex
        self.file = file
        self.lineDeadline = firstDeadline
        self.server = server
        maxLineLength = server.policy.maxLineLength
        lineTimeout = server.policy.lineTimeout
    }

    /// Logs through `logger` (the peer and hub in its metadata), from a synchronous function that is
    /// never inlined. Prefer it to `logger.info(…)` in a handler: the logging's temporaries (the
    /// `Logger` copy, the message, the metadata) then live on the thread's stack instead of in the
    /// handler's async frame, which every idle connection keeps for its life (one `logger.info`
    /// call made `Examples/LineServer`'s handler frame 592 bytes instead of 208), and the logger
    /// is made for the call, not kept with the connection (unless `logger` was asked for).
    @inline(never)
    public func log(_ level: Logger.Level, _ message: @autoclosure () -> Logger.Message,
                    metadata: @autoclosure () -> Logger.Metadata? = nil,
                    file: String = #fileID, function: String = #function, line: UInt = #line) {
        // The logger made for this call is not kept (unless `logger` was asked for): its metadata
        // would otherwise stay with the connection for its life.
        let logger = loggerBox?.logger ?? makeLogger()
        logger.log(level: level, message(), metadata: metadata(), file: file, function: function, line: line)
    }

    /// The server's logger with this connection's `peer` and `hub` as metadata.
    private func makeLogger() -> Logger {
        server.logger.forConnection(peer: peer, hub: hubIndex, via: proxied?.balancer)
    }

    /// The read side of `file`.
    public var reader: BufferedReader { file.reader }
    /// The write side of `file`.
    public var writer: BufferedWriter { file.writer }
    /// The TLS socket, for a TLS server (its peer certificate, protocol version, …).
    public var tlsSocket: TLSSocket? { socket as? TLSSocket }
    /// The subject of the client's certificate ("CN=alice,O=Example"), verified against the
    /// server's `clientVerification` CAs; nil for a client without one, or a plain server.
    public var clientCertificateSubject: String? { tlsSocket?.peerCertificateSubject }

    /// True once the server is stopping: it accepts no more connections and will cancel this one
    /// when the drain period ends. A handler checks it between requests to finish politely (an
    /// SMTP server answers "421 shutting down", say).
    public var isDraining: Bool { server.isDraining }

    /// Starts a new line deadline: `policy.lineTimeout` from now.
    public func renewLineDeadline() {
        if let timeout = lineTimeout { lineDeadline = .after(timeout) }
    }

    /// Counts `count` requests (lines, commands) for the `greenio_requests_total` metric; the
    /// line methods count their own lines.
    public func countRequest(_ count: Int = 1) { requestCount &+= count }

    /// The deadline for one write or flush: `policy.lineTimeout` from now.
    public var sendDeadline: Deadline? { lineTimeout.map { .after($0) } }

    // MARK: Lines

    /// Reads the next line through its `\n` (`BufferedReader.readLine(maxLength:)` with the
    /// policy's limit and the line deadline), counts it and renews the deadline.
    /// - Returns: the line; empty at the end of the stream (a final unterminated line comes first).
    /// - Throws: `IOError` `.lineTooLong` (nothing consumed), `.timedOut` when the line deadline
    ///   passes (the bytes received stay buffered), socket errors; `CancellationError`.
    public func readLine() async throws -> [UInt8] {
        guard let line = try await reader.readLine(maxLength: maxLineLength, deadline: lineDeadline) else {
            throw IOError.wouldBlock()  // Only a non-blocking socket returns nil; the server's never is.
        }
        if !line.isEmpty { lineCompleted() }
        return line
    }

    /// Counts a line or command and renews the line deadline.
    @usableFromInline
    func lineCompleted(count: Int = 1) {
        requestCount &+= count
        renewLineDeadline()
    }

    // MARK: Writing

    /// Buffers `bytes` (sending when the buffer fills), within `sendDeadline`.
    /// - Throws: as `BufferedWriter.write(_:deadline:)`.
    public func write(_ bytes: [UInt8]) async throws {
        if bytes.count <= writer.bufferSize - writer.bufferedByteCount {
            _ = try await writer.write(bytes)  // Fits: no send, so no deadline to compute.
            return
        }
        _ = try await sending { try await writer.write(bytes, deadline: sendDeadline) }
    }

    /// Buffers `bytes` (sending when the buffer fills), within `sendDeadline`.
    /// - Throws: as `BufferedWriter.write(_:deadline:)`.
    public func write(_ bytes: UnsafeRawBufferPointer) async throws {
        if bytes.count <= writer.bufferSize - writer.bufferedByteCount {
            _ = try await writer.write(bytes)
            return
        }
        _ = try await sending { try await writer.write(bytes, deadline: sendDeadline) }
    }

    /// Sends everything buffered, then `bytes`, within `sendDeadline`
    /// (`BufferedWriter.writeAndFlush(_:deadline:)`): with nothing buffered, `bytes` go out
    /// straight from the caller's memory, so a reply built in place (or lines lent by
    /// `withCompleteLines`) is never copied.
    /// - Throws: as `BufferedWriter.writeAndFlush(_:deadline:)`; a timeout sets `sendTimedOut`.
    @inlinable
    public func writeAndFlush(_ bytes: UnsafeRawBufferPointer) async throws {
        // Inlinable: one async frame less per reply.
        do {
            try await writer.writeAndFlush(bytes, deadline: sendDeadline)
        } catch {
            throw noteSendTimeout(error)
        }
    }

    /// `writeAndFlush` for a byte array.
    /// - Throws: as `BufferedWriter.writeAndFlush(_:deadline:)`; a timeout sets `sendTimedOut`.
    public func writeAndFlush(_ bytes: [UInt8]) async throws {
        _ = try await sending { try await writer.writeAndFlush(bytes, deadline: sendDeadline) }
    }

    /// Sends everything buffered, within `sendDeadline`.
    /// - Throws: as `BufferedWriter.flush(deadline:)`.
    public func flush() async throws {
        guard writer.bufferedByteCount > 0 else { return }
        try await sending { try await writer.flush(deadline: sendDeadline) }
    }

    /// Records a write's or flush's timeout (`sendTimedOut`) and returns `error`. Synchronous and
    /// out of line: the inlined callers' async frames (held by an idle connection) keep no cast
    /// temporaries.
    @usableFromInline @inline(never)
    func noteSendTimeout(_ error: any Error) -> any Error {
        if let ioError = error as? IOError, ioError.kind == .timedOut { sendTimedOut = true }
        return error
    }

    private func sending<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw noteSendTimeout(error)
        }
    }
}

/// Where a `ServerConnection` keeps its logger once it is made.
private final class LoggerBox {
    var logger: Logger
    init(_ logger: Logger) { self.logger = logger }
}

extension Logger {
    /// This logger with a connection's `peer`, `hub` (unless nil: a hub's own logger has it) and,
    /// behind a balancer, `via` (the balancer) as metadata: how every log line about one connection
    /// names it.
    func forConnection(peer: SocketAddress, hub: Int?, via balancer: SocketAddress? = nil) -> Logger {
        var logger = self
        logger[metadataKey: "peer"] = .stringConvertible(peer)
        if let hub { logger[metadataKey: "hub"] = .stringConvertible(hub) }
        if let balancer { logger[metadataKey: "via"] = .stringConvertible(balancer) }
        return logger
    }
}
