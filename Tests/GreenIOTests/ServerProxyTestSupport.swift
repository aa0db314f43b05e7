import Glibc
import GreenIO
import GreenIOServer
import MetricsTestKit
import Synchronization
import Testing

// Helpers of the in-process PROXY protocol server suites (ServerProxy*Tests).

/// One connection as its handler saw it.
struct SeenConnection: Sendable {
    let peer: SocketAddress
    let balancer: SocketAddress?
    let header: ProxyHeader?
}

/// The connections that reached a handler, in order: a refused connection never appears.
final class SeenConnections: Sendable {
    private let storage = Mutex<[SeenConnection]>([])

    var all: [SeenConnection] { storage.withLock { $0 } }

    /// The line echo (`echoLines`), recording each connection before its first read.
    var echoHandler: ServerConnectionHandler {
        { [self] connection in
            storage.withLock {
                $0.append(SeenConnection(peer: connection.peer, balancer: connection.balancer, header: connection.proxyHeader))
            }
            return try await echoLines(connection)
        }
    }
}

/// Starts an in-process echo server on 127.0.0.1 that requires PROXY headers from `trusted`
/// (every peer when nil), with `configure` applied after; returns it and its port.
func startProxyServer(trusted: [String]? = ["127.0.0.0/8"], seen: SeenConnections,
                      configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> (Server, Int) {
    let sources = try trusted?.map(IPNetwork.init)
    return try startTestServer(configure: {
        $0.proxyProtocol = ProxyProtocolConfiguration(trustedSources: sources)
        configure(&$0)
    }, handler: seen.echoHandler)
}

/// Reads until the server closes the connection — an end of stream or, when it closed with the
/// client's bytes unread, a reset — and returns what arrived before.
/// - Throws: `IOError` `.timedOut` if it is still open after `limit`.
func receiveUntilClosed(_ socket: Socket, within limit: Duration = .seconds(5)) async throws -> [UInt8] {
    let deadline = Deadline.after(limit)
    var received: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 1)
    defer { buffer.deallocate() }
    while true {
        do {
            guard case .completed(let count) = try await socket.receive(into: buffer, deadline: deadline), count > 0 else {
                return received
            }
            received += buffer[..<count]
        } catch let error as IOError where error.errno?.rawValue == ECONNRESET {
            return received
        }
    }
}

/// The total of a counter of `metrics` (0 when it was never made).
func counterTotal(_ metrics: TestMetrics, _ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
    (try? metrics.expectCounter(label, dimensions).totalValue) ?? 0
}

/// The total of `greenio_proxy_header_failures_total` for `kind`.
func proxyFailures(_ metrics: TestMetrics, _ kind: ProxyHeaderError.Kind) -> Int64 {
    counterTotal(metrics, "greenio_proxy_header_failures_total", [("kind", kind.rawValue)])
}

/// Sends `bytes` one at a time, `pause` apart, with Nagle's delay off so that each goes alone.
func dribble(_ bytes: [UInt8], to socket: Socket, pause: Duration) async throws {
    try socket.setOption(.noDelay, true)
    for byte in bytes {
        try await socket.sendAll([byte])
        try await Hub.sleep(for: pause)
    }
}

/// A one-connection load balancer: accepts one client on `listener`, connects to the server on
/// 127.0.0.1:`serverPort` and sends `header` — in the same write as the client's first bytes
/// (its TLS ClientHello, say) when `pause` is nil, else on its own, `pause` before them — then
/// relays both ways until both directions have ended. Runs in a green thread of its own.
func balanceOneConnection(_ listener: Socket, serverPort: Int, header: [UInt8], pause: Duration?) async throws {
    let (client, _) = try await listener.accept()
    defer { client.close() }
    let server = try await connectToServer(port: serverPort)
    defer { server.close() }
    let first = try await client.recv(65536)
    if let pause {
        try await server.sendAll(header)
        try await Hub.sleep(for: pause)
        try await server.sendAll(first)
    } else {
        try await server.sendAll(header + first)
    }
    guard let hub = Hub.current else { return }
    let back = hub.spawn { await relay(from: server, to: client) }
    await relay(from: client, to: server)
    _ = try? await back.value
}

/// Copies `source` to `destination` until the end of `source`'s stream, then ends
/// `destination`'s; a reset or a timeout just ends the copy.
private func relay(from source: Socket, to destination: Socket) async {
    do {
        while true {
            let chunk = try await source.recv(65536)
            if chunk.isEmpty { break }
            try await destination.sendAll(chunk)
        }
        try destination.shutdown(.write)
    } catch {
        return
    }
}
