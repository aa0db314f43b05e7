import Glibc
import GreenIO
import Testing

/// `greenio serve --proxy-protocol [--proxy-trusted CIDR]...` as a subprocess.
@Suite("CLI serve --proxy-protocol", .timeLimit(.minutes(1)))
struct CLIProxyTests {
    @Test("echoes behind a v1 or v2 header; the log names the client via the balancer; a bare client is refused")
    func echoesBehindTheHeader() async throws {
        let server = try startServer(["--proxy-protocol", "--proxy-trusted", "127.0.0.0/8"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let port = try await server.listeningPort()
            let v1 = try await connectToServer(port: port)
            defer { v1.close() }
            try await v1.sendAll(proxyV1Client + bytes("through the balancer\n"))
            #expect(text(try await receive(v1, count: 21)) == "through the balancer\n")
            let balancer = try v1.localAddress()
            try v1.shutdown(.write)
            #expect(try await receiveToEnd(v1).isEmpty)

            let v2 = try await connectToServer(port: port)
            defer { v2.close() }
            try await v2.sendAll(proxyV2Client)
            try await Hub.sleep(for: .milliseconds(20))
            try await v2.sendAll(bytes("v2 then data\n"))
            #expect(text(try await receive(v2, count: 13)) == "v2 then data\n")

            let bare = try await connectToServer(port: port)
            defer { bare.close() }
            try await bare.sendAll(bytes("no header\n"))
            #expect(try await receiveUntilClosed(bare).isEmpty)
            let barePeer = try bare.localAddress()

            try await waitUntil("the log lines") {
                let log = server.errorText()
                return log.contains("open 203.0.113.7:40000 (via \(balancer))")
                    && log.contains("close 203.0.113.7:40000 (end of stream)")
                    && log.contains("close \(barePeer) (proxy header missing: no PROXY header)")
            }
        }
        let log = server.errorText()
        #expect(log.contains("PROXY protocol headers required, trusted from 127.0.0.0/8"), "\(log)")
        #expect(!log.contains("WARNING"), "\(log)")
        #expect(!log.contains("no header"), "the client's bytes are never logged: \(log)")
    }

    @Test("without --proxy-trusted every peer may send headers, and the start says so with a warning")
    func warnsWithoutTrustedSources() async throws {
        let server = try startServer(["--proxy-protocol"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            try await socket.sendAll(proxyV1Client + bytes("any peer\n"))
            #expect(text(try await receive(socket, count: 9)) == "any peer\n")
            try await waitUntil("the warning") {
                server.errorText().contains("WARNING: PROXY protocol headers are believed from ANY peer")
            }
        }
    }

    @Test("a peer outside --proxy-trusted is refused, and the refusal logged")
    func refusesUntrustedPeers() async throws {
        let server = try startServer(["--proxy-protocol", "--proxy-trusted", "10.0.0.0/8", "--proxy-trusted", "::1"])
        defer { server.terminate() }
        try await onHub(limit: .seconds(20)) {
            let socket = try await connectToServer(port: server.listeningPort())
            defer { socket.close() }
            try await socket.sendAll(proxyV1Client + bytes("hello\n"))
            #expect(try await receiveUntilClosed(socket).isEmpty)
            let peer = try socket.localAddress()
            try await waitUntil("the refusal") {
                server.errorText().contains("close \(peer) (proxy header untrusted: peer is not a trusted source)")
            }
        }
    }

    @Test("bad PROXY options exit with code 2 and say what is wrong", arguments: [
        (["--proxy-trusted", "10.0.0.0/8"], "--proxy-trusted needs --proxy-protocol"),
        (["--proxy-protocol", "--proxy-trusted", "10.0.0.0/33"], "--proxy-trusted: not an IP address or CIDR block: 10.0.0.0/33"),
        (["--proxy-protocol", "--proxy-trusted", "balancer.internal"], "not an IP address or CIDR block: balancer.internal"),
        (["--proxy-protocol", "--proxy-trusted", "10.0.0.0/-0"], "not an IP address or CIDR block: 10.0.0.0/-0"),
    ])
    func badOptions(options: [String], message: String) async throws {
        let process = try ChildProcess(["serve", "--port", "0"] + options)
        defer { process.terminate() }
        let status = try await onHub(limit: .seconds(20)) {
            try await process.waitForExit(deadline: .after(.seconds(10)))
        }
        #expect(status == 2)
        #expect(process.errorText().contains(message), "\(process.errorText())")
        #expect(process.errorText().contains("Usage:"))
    }
}
