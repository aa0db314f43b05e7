import COpenSSL
import Glibc
import Testing
@testable import GreenIO

// Helpers shared by the TLS conformance and seed-regression suites (TLS*Tests). Names carry a `tls`
// prefix so that they cannot clash with helpers of other test files.

/// One self-signed identity ("localhost", "127.0.0.1") for every TLS test.
let tlsTestIdentity: TLSIdentity = {
    do { return try TLSIdentity.selfSigned() } catch { fatalError("cannot make the test identity: \(error)") }
}()

/// A server context presenting the test identity.
func tlsServerContext(maximumVersion: TLSVersion? = nil) throws -> TLSContext {
    let context = try TLSContext.server(identity: tlsTestIdentity)
    if let maximumVersion { try context.setMaximumVersion(maximumVersion) }
    return context
}

/// A client context that trusts the test identity (verification on), or verifies nothing.
func tlsClientContext(verified: Bool = true, maximumVersion: TLSVersion? = nil) throws -> TLSContext {
    let context = try TLSContext.client(verification: verified
        ? .trustedCertificatesPEM(tlsTestIdentity.certificateChainPEM) : .insecureNoVerification)
    if let maximumVersion { try context.setMaximumVersion(maximumVersion) }
    return context
}

/// A TLS connection over TCP loopback with both handshakes done (client verified against
/// "localhost"). Each side gets `timeout` after the handshake, which itself runs with a 10 s
/// timeout. `configure` sees the plain sockets (client, server) before they are wrapped.
/// Must run in a green thread; close both sockets.
func tlsPair(noDelay: Bool = false, clientTimeout: TimeoutMode = .timeout(.seconds(10)), serverTimeout: TimeoutMode = .timeout(.seconds(10)),
             clientSuppressRaggedEOFs: Bool = true, serverSuppressRaggedEOFs: Bool = true,
             maximumVersion: TLSVersion? = nil,
             configure: (Socket, Socket) throws -> Void = { _, _ in }) async throws -> (client: TLSSocket, server: TLSSocket) {
    let (plainClient, plainServer) = try await tcpPair()
    do {
        try plainClient.setTimeout(seconds: 10)
        try plainServer.setTimeout(seconds: 10)
        if noDelay {
            // On virtual time nothing may wait for real time: Nagle's algorithm would hold a small
            // record until the peer's delayed ACK (about 40 ms).
            try plainClient.setOption(.noDelay, true)
            try plainServer.setOption(.noDelay, true)
        }
        try configure(plainClient, plainServer)
    } catch {
        plainClient.close()
        plainServer.close()
        throw error
    }
    let serverContext = try tlsServerContext(maximumVersion: maximumVersion)
    let clientContext = try tlsClientContext(maximumVersion: maximumVersion)
    let serverTask = Hub.current!.spawn {
        try await TLSSocket.wrap(plainServer, context: serverContext, suppressRaggedEOFs: serverSuppressRaggedEOFs)
    }
    let client: TLSSocket
    do {
        client = try await TLSSocket.wrap(plainClient, context: clientContext, serverHostname: "localhost",
                                          suppressRaggedEOFs: clientSuppressRaggedEOFs)
    } catch {
        serverTask.cancel()
        _ = try? await serverTask.value
        plainServer.close()
        throw error
    }
    let server: TLSSocket
    do {
        server = try await serverTask.value
    } catch {
        client.close()
        throw error
    }
    try client.setTimeout(clientTimeout)
    try server.setTimeout(serverTimeout)
    return (client, server)
}

/// Small socket buffers for a tlsPair (client, server), so that a peer that does not read blocks a
/// writer soon. The receive buffer stays above loopback's MSS (64 KiB): a smaller one makes TCP's
/// silly-window avoidance stall the transfer for seconds.
func tlsSmallBuffers(_ client: Socket, _ server: Socket) throws {
    for socket in [client, server] {
        try socket.setOption(.sendBufferSize, 16_384)
        try socket.setOption(.receiveBufferSize, 131_072)
    }
}

/// One raw TLS receive of at most `count` bytes: the bytes (empty at the end of the stream), or
/// nil for would-block.
func tlsRecv(_ tls: TLSSocket, _ count: Int, deadline: Deadline? = nil) async throws -> [UInt8]? {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
    defer { buffer.deallocate() }
    switch try await tls.receive(into: buffer, deadline: deadline) {
    case .completed(let n): return Array(buffer[..<n])
    case .wouldBlock: return nil
    }
}

/// Receives until `count` bytes have come or the stream ended.
func tlsRecvExactly(_ tls: TLSSocket, _ count: Int) async throws -> [UInt8] {
    var got: [UInt8] = []
    while got.count < count {
        guard let chunk = try await tlsRecv(tls, count - got.count) else {
            throw IOError.wouldBlock(bytesTransferred: got.count)
        }
        if chunk.isEmpty { break }
        got += chunk
    }
    return got
}

/// Receives until the end of the stream.
func tlsRecvToEnd(_ tls: TLSSocket) async throws -> [UInt8] {
    var got: [UInt8] = []
    while true {
        guard let chunk = try await tlsRecv(tls, 65536) else { throw IOError.wouldBlock(bytesTransferred: got.count) }
        if chunk.isEmpty { return got }
        got += chunk
    }
}

/// One raw TLS send of `bytes`: the outcome.
@discardableResult
func tlsSend(_ tls: TLSSocket, _ bytes: [UInt8], deadline: Deadline? = nil) async throws -> IOOutcome {
    try await tlsWithCopy(bytes) { try await tls.send($0, deadline: deadline) }
}

/// Runs `body` with a temporary copy of `bytes` (array buffers cannot be held across awaits).
@discardableResult
func tlsWithCopy<R>(_ bytes: [UInt8], _ body: (UnsafeRawBufferPointer) async throws -> R) async throws -> R {
    let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: Swift.max(bytes.count, 1), alignment: 1)
    defer { copy.deallocate() }
    copy.copyBytes(from: bytes)
    return try await body(UnsafeRawBufferPointer(rebasing: copy[0..<bytes.count]))
}

/// CPython's `SSLSocket.sendall`: sends every byte, one raw send after the other (each with its own
/// timeout, as CPython's SSL `sendall`). Non-blocking: throws `IOError` `.wouldBlock` with
/// `bytesTransferred` when a send would block.
func tlsSendAll(_ tls: TLSSocket, _ bytes: UnsafeRawBufferPointer, deadline: Deadline? = nil) async throws {
    var sent = 0
    while sent < bytes.count {
        switch try await tls.send(UnsafeRawBufferPointer(rebasing: bytes[sent...]), deadline: deadline) {
        case .completed(let n): sent += n
        case .wouldBlock: throw IOError.wouldBlock(bytesTransferred: sent)
        }
    }
}

/// `tlsSendAll` for a byte array.
func tlsSendAll(_ tls: TLSSocket, _ bytes: [UInt8], deadline: Deadline? = nil) async throws {
    try await tlsWithCopy(bytes) { try await tlsSendAll(tls, $0, deadline: deadline) }
}

/// Closes the TCP connection under a TLS socket without a close_notify (a "ragged" EOF for the
/// peer): a FIN, after dropping what the socket had received but not read (TLS 1.3 session
/// tickets), so that closing does not turn into a reset.
func tlsRaggedClose(_ tls: TLSSocket) {
    let fd = tls.fileDescriptor
    if fd >= 0 { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }
    tlsDiscardIncoming(tls)
    tls.socket.close()
    tls.close()
}

/// Discards the bytes waiting in the kernel under a TLS socket (the server's TLS 1.3 session
/// tickets, typically), without OpenSSL: closing a TCP socket with unread input sends a reset
/// instead of a FIN, which would race the close_notify or FIN a test means to send.
func tlsDiscardIncoming(_ tls: TLSSocket) {
    let fd = tls.fileDescriptor
    guard fd >= 0 else { return }
    var sink = [UInt8](repeating: 0, count: 65536)
    while sink.withUnsafeMutableBytes({ Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }) > 0 {}
}

/// Closes the TCP connection under a TLS socket with a reset (SO_LINGER 0), without a close_notify.
func tlsResetClose(_ tls: TLSSocket) throws {
    try tls.socket.setLinger(seconds: 0)
    tls.socket.close()
    tls.close()
}

/// Whether the descriptor is readable right now (`poll` with a zero timeout).
func tlsDescriptorIsReadable(_ fd: Int32) -> Bool {
    var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
    return poll(&entry, 1, 0) == 1
}

/// Calls `attempt` until it gives a value, sleeping `pause` on the hub between tries; throws
/// `TestTimedOut` after `limit`.
@discardableResult
func tlsPoll<T>(limit: Duration = .seconds(5), pause: Duration = .milliseconds(2),
                _ attempt: () async throws -> T?) async throws -> T {
    let deadline = Deadline.after(limit)
    while true {
        if let value = try await attempt() { return value }
        if deadline.hasPassed { throw TestTimedOut(limit: limit) }
        try await Hub.sleep(for: pause)
    }
}

/// The IOError a body threw, or nil if it returned (any other error is recorded as an issue).
func tlsIOError(sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async -> IOError? {
    do {
        try await body()
        return nil
    } catch let error as IOError {
        return error
    } catch {
        Issue.record("expected an IOError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// A SHA-256 digest computed piece by piece with OpenSSL (fast enough for 100 MB in a debug build).
final class TLSTestDigest {
    private let context: OpaquePointer

    init() {
        context = EVP_MD_CTX_new()
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(context) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(context, bytes.baseAddress, bytes.count) }
    }

    func finish() -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return digest
    }
}

/// `count` pseudo-random bytes from `seed`.
func tlsRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var generator = SplitMix64(seed: seed)
    var result = [UInt8](repeating: 0, count: count)
    result.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < count {
            var word = generator.next()
            let n = Swift.min(8, count - offset)
            withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: n) }
            offset += n
        }
    }
    return result
}

/// Sends `total` bytes made of `block` repeated, the first 8 bytes of each repetition replaced by its
/// index (so that a reordered or repeated block changes the digest); returns the digest of what was
/// sent.
func tlsSendStream(_ tls: TLSSocket, total: Int, block: [UInt8]) async throws -> [UInt8] {
    let digest = TLSTestDigest()
    let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: block.count, alignment: 8)
    defer { chunk.deallocate() }
    chunk.copyBytes(from: block)
    var sent = 0
    var index: UInt64 = 0
    while sent < total {
        let n = Swift.min(chunk.count, total - sent)
        if n >= 8 { chunk.storeBytes(of: index.littleEndian, toByteOffset: 0, as: UInt64.self) }
        let piece = UnsafeRawBufferPointer(rebasing: chunk[0..<n])
        digest.update(piece)
        try await tlsSendAll(tls, piece)
        sent += n
        index += 1
    }
    return digest.finish()
}

/// Receives until the end of the stream; returns (byte count, digest).
func tlsReceiveStream(_ tls: TLSSocket, bufferSize: Int = 65536) async throws -> (Int, [UInt8]) {
    let digest = TLSTestDigest()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 1)
    defer { buffer.deallocate() }
    var total = 0
    while true {
        guard case .completed(let n) = try await tls.receive(into: buffer, deadline: nil) else {
            throw IOError.wouldBlock(bytesTransferred: total)
        }
        if n == 0 { return (total, digest.finish()) }
        digest.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        total += n
    }
}

/// Tries a handshake between a client with `clientContext` (verifying `serverHostname`) and a
/// server with `serverContext` over TCP loopback; returns both outcomes. Close the sockets that
/// were made. Must run in a green thread.
func tlsTryHandshake(client clientContext: TLSContext, server serverContext: TLSContext,
                     serverHostname: String?) async throws -> (client: Result<TLSSocket, any Error>, server: Result<TLSSocket, any Error>) {
    let (plainClient, plainServer) = try await tcpPair()
    try plainClient.setTimeout(seconds: 10)
    try plainServer.setTimeout(seconds: 10)
    let serverTask = Hub.current!.spawn { try await TLSSocket.wrap(plainServer, context: serverContext) }
    let client = await hubOutcome {
        try await TLSSocket.wrap(plainClient, context: clientContext, serverHostname: serverHostname)
    }
    if case .failure = client { plainClient.close() }
    let server = await hubOutcome { try await serverTask.value }
    return (client, server)
}

/// A plain listener on 127.0.0.1 whose accept loop (a green thread) hands every connection to
/// `handler` in a green thread of its own (never handshaking in the accept loop). Returns the
/// listener and its port; closing the listener ends the loop.
func tlsStartServer(_ handler: @escaping @Sendable (Socket) async throws -> Void) async throws -> (listener: Socket, port: Int) {
    let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
    let port = try listener.localAddress().port ?? 0
    let hub = Hub.current!
    hub.spawn {
        while true {
            let (connection, _) = try await listener.accept()
            hub.spawn {
                defer { connection.close() }
                try await handler(connection)
            }
        }
    }
    return (listener, port)
}
