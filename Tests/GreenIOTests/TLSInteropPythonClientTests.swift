import Glibc
import Testing
@testable import GreenIO

/// A GreenIO TLS server against clients written with Python's `ssl` module.
@Suite("TLS interop Python client", .timeLimit(.minutes(1)))
struct TLSInteropPythonClientTests {
    /// Runs the Python client against a GreenIO echo server and returns the client's output lines,
    /// its exit code and how the server's connection ended.
    private func run(ending: String, version: String? = nil, suppressRaggedEOFs: Bool = true)
        async throws -> (output: [String], exitCode: Int32, ending: GreenTLSEchoServer.Ending) {
        let identity = try TLSIdentity.selfSigned()
        let files = try PEMFiles(identity)
        defer { files.remove() }
        return try await onHub(limit: .seconds(20)) {
            let context = try TLSContext.server(identity: identity)
            let server = try await GreenTLSEchoServer.start(context: context, suppressRaggedEOFs: suppressRaggedEOFs)
            defer { server.close() }
            let arguments = ["\(server.port)", files.certificatePath, ending] + (version.map { [$0] } ?? [])
            let client = try ChildProcess.python(PythonPeer.client, arguments)
            defer { client.terminate() }
            let output = try await client.readAllOutput(deadline: .after(.seconds(10)))
            let exitCode = try await client.waitForExit(deadline: .after(.seconds(10)))
            let lines = text(output).split(separator: "\n").map(String.init)
            return (lines, exitCode, try await server.nextEnding())
        }
    }

    @Test("lines echo; unwrap() sends close_notify and the GreenIO server sees a clean end of stream")
    func unwrapIsCleanEOF() async throws {
        // Ragged EOFs are not suppressed, so only a real close_notify ends the stream cleanly.
        let result = try await run(ending: "unwrap", suppressRaggedEOFs: false)
        #expect(result.output == ["version TLSv1.3", "ok"])
        #expect(result.exitCode == 0)
        #expect(result.ending.error == nil, "\(result.ending)")
        #expect(result.ending.lines == 3)
    }

    @Test("a TCP close without close_notify is the end of stream when ragged EOFs are suppressed (the default)")
    func raggedCloseSuppressed() async throws {
        let result = try await run(ending: "close")
        #expect(result.output == ["version TLSv1.3", "ok"])
        #expect(result.ending.error == nil, "\(result.ending)")
        #expect(result.ending.lines == 3)
    }

    @Test("a TCP close without close_notify is .tlsEOF after the data when ragged EOFs are not suppressed")
    func raggedCloseReported() async throws {
        let result = try await run(ending: "close", suppressRaggedEOFs: false)
        #expect(result.output == ["version TLSv1.3", "ok"])
        #expect(result.ending.ioError?.kind == .tlsEOF, "\(result.ending)")
        #expect(result.ending.ioError?.message == "EOF occurred in violation of protocol")
        #expect(result.ending.lines == 3)
    }

    @Test("a Python client offering only TLS 1.0 or 1.1 is refused by the default server context",
          arguments: ["TLSv1", "TLSv1_1"])
    func oldVersionsRefused(version: String) async throws {
        let result = try await run(ending: "unwrap", version: version)
        #expect(result.exitCode == 3)
        #expect(result.output.first?.hasPrefix("handshake failed") == true, "\(result.output)")
        #expect(result.ending.version == nil)
        #expect(result.ending.ioError?.kind == .tls, "\(result.ending)")
    }

    @Test("writing to a Python client that reset the connection fails with an error instead of raising SIGPIPE")
    func writeAfterResetFails() async throws {
        let identity = try TLSIdentity.selfSigned()
        let files = try PEMFiles(identity)
        defer { files.remove() }
        let (output, failure) = try await onHub(limit: .seconds(20)) { () -> ([UInt8], IOError?) in
            let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
            defer { listener.close() }
            let port = try listener.localAddress().port ?? 0
            let client = try ChildProcess.python(PythonPeer.client, ["\(port)", files.certificatePath, "reset"])
            defer { client.terminate() }
            let (connection, _) = try await listener.accept()
            try connection.setTimeout(.timeout(.seconds(10)))
            var failure: IOError?
            do {
                // The reset may even come before the server's handshake has sent its last flight.
                let tls = try await TLSSocket.wrap(connection, context: try TLSContext.server(identity: identity))
                defer { tls.close() }
                _ = try await client.waitForExit(deadline: .after(.seconds(10)))
                try await Hub.sleep(for: .milliseconds(50))  // let the RST arrive
                // The first write may still be accepted by the kernel; a later one must fail, and
                // OpenSSL's write must not raise SIGPIPE (which would end this test process).
                let file = try tls.makeReadWritePair()
                defer { file.reader.close() }
                for _ in 0..<3 {
                    _ = try await file.write(bytes("to nobody\n"))
                    try await file.flush()
                }
            } catch let error as IOError {
                failure = error
            }
            return (try await client.readAllOutput(deadline: .after(.seconds(10))), failure)
        }
        #expect(text(output) == "version TLSv1.3\nok\n")
        #expect(failure?.errno == .brokenPipe || failure?.errno == .connectionReset, "\(String(describing: failure))")
    }
}
