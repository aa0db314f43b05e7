import Glibc
import Testing
@testable import GreenIO

/// GreenIO's TLS against the `openssl` command-line tool (OpenSSL 3): `s_server -rev` as the
/// server of a GreenIO client, and `s_client` as the client of a GreenIO server.
@Suite("TLS interop openssl", .timeLimit(.minutes(1)))
struct TLSInteropOpenSSLTests {
    /// (openssl's protocol flag, the version both sides must report).
    static let versions = [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")]

    @Test("a verifying GreenIO client talks to openssl s_server -rev", arguments: versions)
    func greenClientToOpenSSLServer(flag: String, version: String) async throws {
        let files = try PEMFiles(try TLSIdentity.selfSigned())
        defer { files.remove() }
        let server = try ChildProcess.openssl([
            "s_server", "-accept", "127.0.0.1:0", "-cert", files.certificatePath, "-key", files.keyPath, flag, "-rev",
        ])
        defer { server.terminate() }
        let long = String(repeating: "x", count: 3000) + "y"
        let (replies, negotiated, end) = try await onHub(limit: .seconds(20)) {
            let port = try await server.opensslAcceptPort()
            let context = try TLSContext.client(verification: .trustedCertificateFile(files.certificatePath))
            let tls = try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context,
                                                  serverHostname: "localhost", timeout: .timeout(.seconds(5)))
            defer { tls.close() }
            let file = try tls.makeReadWritePair()
            defer { file.reader.close() }
            var replies: [String] = []
            for line in ["hello", "green threads", long] {
                _ = try await file.write(bytes(line + "\n"))
                try await file.flush()
                replies.append(text(try await file.readLine() ?? []))
            }
            // s_server -rev ends the connection when it reads "CLOSE".
            _ = try await file.write(bytes("CLOSE\n"))
            try await file.flush()
            let end = try await file.readLine()
            return (replies, tls.negotiatedVersion, end)
        }
        #expect(replies == ["olleh\n", "sdaerht neerg\n", String(long.reversed()) + "\n"])
        #expect(negotiated == version)
        #expect(end == [])
    }

    @Test("openssl s_client -verify_return_error echoes lines through a GreenIO server", arguments: versions)
    func openSSLClientToGreenServer(flag: String, version: String) async throws {
        let identity = try TLSIdentity.selfSigned()
        let files = try PEMFiles(identity)
        defer { files.remove() }
        let (echoed, exitCode, ending) = try await onHub(limit: .seconds(20)) {
            let server = try await GreenTLSEchoServer.start(context: try TLSContext.server(identity: identity))
            defer { server.close() }
            let client = try ChildProcess.openssl(sClientArguments(port: server.port, caFile: files.certificatePath) + [flag],
                                                  pipeInput: true)
            defer { client.terminate() }
            let lines = ["first line", "second, a bit longer line", String(repeating: "0123456789", count: 500)]
            let echoed = try await exchange(lines, with: client)
            client.closeInput()  // s_client sends close_notify and exits
            let exitCode = try await client.waitForExit(deadline: .after(.seconds(10)))
            return (echoed == lines, exitCode, try await server.nextEnding())
        }
        #expect(echoed)
        #expect(exitCode == 0)
        #expect(ending.error == nil, "\(ending)")
        #expect(ending.lines == 3)
        #expect(ending.version == version)
    }

    @Test("after s_client's TLS 1.3 KeyUpdate (k: not requested, K: requested) the GreenIO server keeps echoing",
          arguments: ["k", "K"])
    func keyUpdate(command: String) async throws {
        let identity = try TLSIdentity.selfSigned()
        let files = try PEMFiles(identity)
        defer { files.remove() }
        let (echoed, errorText, ending) = try await onHub(limit: .seconds(20)) {
            let server = try await GreenTLSEchoServer.start(context: try TLSContext.server(identity: identity))
            defer { server.close() }
            let client = try ChildProcess.openssl(sClientArguments(port: server.port, caFile: files.certificatePath) + ["-tls1_3"],
                                                  pipeInput: true)
            defer { client.terminate() }
            var echoed = try await exchange(["before the update"], with: client)
            // A line holding only the command letter makes s_client send a KeyUpdate; with "K" the
            // server's read must answer with its own KeyUpdate (a reader that has to write).
            try await client.writeInput(bytes(command + "\n"), deadline: .after(.seconds(5)))
            // s_client drops the rest of the input it read with the command: wait until it has acted.
            try await client.waitForErrorOutput(containing: "KEYUPDATE", deadline: .after(.seconds(5)))
            echoed += try await exchange(["after the update", "and once more"], with: client)
            client.closeInput()
            _ = try await client.waitForExit(deadline: .after(.seconds(10)))
            return (echoed, client.errorText(), try await server.nextEnding())
        }
        #expect(echoed == ["before the update", "after the update", "and once more"])
        #expect(!errorText.contains("Error writing keyupdate"))
        #expect(ending.error == nil, "\(ending)")
        #expect(ending.lines == 3)
    }

    @Test("s_client's TLS 1.2 renegotiation request (R) is refused without hanging or stopping the GreenIO server")
    func renegotiationRefused() async throws {
        let identity = try TLSIdentity.selfSigned()
        let files = try PEMFiles(identity)
        defer { files.remove() }
        let (before, ending, continued, afterwards) = try await onHub(limit: .seconds(20)) {
            let server = try await GreenTLSEchoServer.start(context: try TLSContext.server(identity: identity))
            defer { server.close() }
            let arguments = sClientArguments(port: server.port, caFile: files.certificatePath) + ["-tls1_2"]
            let client = try ChildProcess.openssl(arguments, pipeInput: true)
            defer { client.terminate() }
            let before = try await exchange(["before renegotiation"], with: client)
            try await client.writeInput(bytes("R\n"), deadline: .after(.seconds(5)))
            try await client.waitForErrorOutput(containing: "RENEGOTIATING", deadline: .after(.seconds(5)))
            // The server answers the new ClientHello with a no_renegotiation alert. OpenSSL's client
            // takes that as fatal, so the connection ends with an error; a client that went on
            // instead must still get its lines echoed. Either way the server's green thread must
            // neither hang nor take the server down.
            var ending: GreenTLSEchoServer.Ending?
            do {
                ending = try await server.nextEnding(within: .seconds(3))
            } catch let error as IOError where error.kind == .timedOut {
                ending = nil
            }
            let continued = ending == nil ? try await exchange(["still there?"], with: client) : []
            client.closeInput()
            _ = try await client.waitForExit(deadline: .after(.seconds(10)))

            let second = try ChildProcess.openssl(arguments, pipeInput: true)
            defer { second.terminate() }
            let afterwards = try await exchange(["a new connection"], with: second)
            return (before, ending, continued, afterwards)
        }
        #expect(before == ["before renegotiation"])
        if let ending {
            #expect(ending.ioError?.kind == .tls, "\(ending)")
            #expect(ending.lines == 1)
        } else {
            #expect(continued == ["still there?"])
        }
        #expect(afterwards == ["a new connection"])
    }
}

/// `openssl s_client` arguments for a verified connection to a local GreenIO server: output only
/// the application data (`-quiet`), but end at the end of standard input with a close_notify and
/// take command letters (`-no_ign_eof`).
func sClientArguments(port: Int, caFile: String) -> [String] {
    ["s_client", "-connect", "127.0.0.1:\(port)", "-CAfile", caFile, "-verify_return_error",
     "-verify_hostname", "localhost", "-servername", "localhost", "-quiet", "-no_ign_eof"]
}

/// Writes each line to a line-echo client process and reads its echo before the next one; returns
/// the echoes (without newlines).
func exchange(_ lines: [String], with client: ChildProcess, within limit: Duration = .seconds(10)) async throws -> [String] {
    let deadline = Deadline.after(limit)
    var echoed: [String] = []
    for line in lines {
        try await client.writeInput(bytes(line + "\n"), deadline: deadline)
        echoed.append(try await client.readLine(deadline: deadline))
    }
    return echoed
}
