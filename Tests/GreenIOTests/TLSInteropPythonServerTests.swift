import Glibc
import Testing
@testable import GreenIO

/// A GreenIO TLS client against a server written with Python's `ssl` module.
@Suite("TLS interop Python server", .timeLimit(.minutes(1)))
struct TLSInteropPythonServerTests {
    /// Starts the Python echo server with `options`, runs `body` with its port and the CA file on a
    /// hub, and returns the body's result with the server's output lines after "port".
    private func withPythonServer<T: Sendable>(
        _ options: [String] = [],
        _ body: @escaping @Sendable (_ port: Int, _ caFile: String, _ server: ChildProcess) async throws -> T
    ) async throws -> T {
        let files = try PEMFiles(try TLSIdentity.selfSigned())
        defer { files.remove() }
        let server = try ChildProcess.python(PythonPeer.server, [files.certificatePath, files.keyPath] + options)
        defer { server.terminate() }
        return try await onHub(limit: .seconds(20)) {
            let line = try await server.readLine(startingWith: "port ", deadline: .after(.seconds(10)))
            guard let port = Int(line) else { throw ChildProcessError(description: "bad port line \(line)") }
            return try await body(port, files.certificatePath, server)
        }
    }

    /// Connects a GreenIO client verifying against `caFile` as `serverHostname`.
    private func connect(port: Int, caFile: String, serverHostname: String = "localhost",
                         alpn: [String]? = nil) async throws -> TLSSocket {
        let context = try TLSContext.client(verification: .trustedCertificateFile(caFile))
        if let alpn { try context.setALPNProtocols(alpn) }
        return try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context,
                                           serverHostname: serverHostname, timeout: .timeout(.seconds(5)))
    }

    @Test("lines echo through makefile, and close() ends the Python server's stream cleanly")
    func echo() async throws {
        let (echoed, version, serverLines) = try await withPythonServer { port, caFile, server in
            let tls = try await connect(port: port, caFile: caFile)
            let version = tls.negotiatedVersion
            let file = try tls.makeReadWritePair()
            var echoed: [String] = []
            for line in ["one", "two: \(String(repeating: "é", count: 2000))", "three"] {
                _ = try await file.write(bytes(line + "\n"))
                try await file.flush()
                echoed.append(text(try await file.readLine() ?? []))
            }
            try await file.close()
            tls.close()  // sends close_notify
            let deadline = Deadline.after(.seconds(10))
            let serverLines = [try await server.readLine(deadline: deadline), try await server.readLine(deadline: deadline)]
            return (echoed, version, serverLines)
        }
        #expect(echoed == ["one\n", "two: \(String(repeating: "é", count: 2000))\n", "three\n"])
        #expect(version == "TLSv1.3")
        #expect(serverLines == ["handshake TLSv1.3 None", "closed"])
    }

    @Test("ALPN: the Python server picks its preferred protocol among those the GreenIO client offers, or none")
    func alpn() async throws {
        let (agreed, none, serverLines) = try await withPythonServer(["alpn=greenio/1,http/1.1"]) { port, caFile, server in
            let deadline = Deadline.after(.seconds(10))
            let first = try await connect(port: port, caFile: caFile, alpn: ["http/1.1", "greenio/1"])
            let agreed = first.alpnProtocol
            first.close()
            let firstLines = [try await server.readLine(deadline: deadline), try await server.readLine(deadline: deadline)]
            let second = try await connect(port: port, caFile: caFile, alpn: ["h2"])
            let none = second.alpnProtocol
            second.close()
            return (agreed, none, firstLines + [try await server.readLine(deadline: deadline)])
        }
        #expect(agreed == "greenio/1")
        #expect(none == nil)
        #expect(serverLines.first == "handshake TLSv1.3 greenio/1")
        #expect(serverLines.last?.hasPrefix("handshake TLSv1.3 None") == true
                    || serverLines.last?.hasPrefix("failed") == true, "\(serverLines)")
    }

    @Test("a GreenIO client that expects another host name fails with .certificateVerificationFailed")
    func wrongHostname() async throws {
        let (failure, serverLine) = try await withPythonServer { port, caFile, server in
            var failure: IOError?
            do {
                _ = try await connect(port: port, caFile: caFile, serverHostname: "not-localhost.example")
            } catch let error as IOError {
                failure = error
            }
            return (failure, try await server.readLine(deadline: .after(.seconds(10))))
        }
        #expect(failure?.kind == .certificateVerificationFailed)
        #expect(failure?.message.contains("hostname mismatch") == true, "\(String(describing: failure))")
        #expect(serverLine.hasPrefix("failed SSLError"))
    }

    @Test("a Python server that speaks only TLS 1.0 or 1.1 is refused by the default client context",
          arguments: ["TLSv1", "TLSv1_1"])
    func oldVersionsRefused(version: String) async throws {
        let (failure, serverLine) = try await withPythonServer(["version=\(version)"]) { port, caFile, server in
            var failure: IOError?
            do {
                _ = try await connect(port: port, caFile: caFile)
            } catch let error as IOError {
                failure = error
            }
            return (failure, try await server.readLine(deadline: .after(.seconds(10))))
        }
        #expect(failure?.kind == .tls, "\(String(describing: failure))")
        #expect(serverLine.hasPrefix("failed SSLError"), "\(serverLine)")
    }
}
