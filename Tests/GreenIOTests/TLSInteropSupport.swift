import Glibc
import Testing
@testable import GreenIO

/// A TLS identity's certificate and key written to temporary PEM files, for peers that read files
/// (`openssl s_server -cert/-key`, Python's `load_cert_chain`, `greenio serve --cert/--key`).
/// The certificate file doubles as the CA file of clients: the identity is self-signed.
struct PEMFiles: Sendable {
    let certificatePath: String
    let keyPath: String

    /// Writes `identity`'s PEMs to two new temporary files. Call `remove()` when done.
    init(_ identity: TLSIdentity) throws {
        certificatePath = try writeTemporaryFile(identity.certificateChainPEM, prefix: "greenio-cert")
        do {
            keyPath = try writeTemporaryFile(identity.privateKeyPEM, prefix: "greenio-key")
        } catch {
            unlink(certificatePath)
            throw error
        }
    }

    /// Deletes both files.
    func remove() {
        unlink(certificatePath)
        unlink(keyPath)
    }
}

/// Writes `contents` to a new temporary file and returns its path.
func writeTemporaryFile(_ contents: String, prefix: String) throws -> String {
    var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
    let fd = mkstemp(&template)
    guard fd >= 0 else { throw ChildProcessError(description: "mkstemp failed: \(Errno.current)") }
    defer { Glibc.close(fd) }
    let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    let bytes = Array(contents.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written > 0 else {
            unlink(path)
            throw ChildProcessError(description: "cannot write \(path): \(Errno.current)")
        }
        offset += written
    }
    return path
}

/// The full path of an executable found on `PATH`.
/// - Throws: `ChildProcessError` if there is none (the CI installs `openssl` and `python3`).
func executableOnPath(_ name: String) throws -> String {
    let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":") where !directory.isEmpty {
        let candidate = "\(directory)/\(name)"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    throw ChildProcessError(description: "\(name) not found on PATH (.ci/run installs it)")
}

extension ChildProcess {
    /// Starts `openssl` with `arguments`.
    static func openssl(_ arguments: [String], pipeInput: Bool = false) throws -> ChildProcess {
        try ChildProcess(arguments, executable: try executableOnPath("openssl"), pipeInput: pipeInput)
    }

    /// Starts `python3 -c script arguments…` (standard library only).
    static func python(_ script: String, _ arguments: [String], pipeInput: Bool = false) throws -> ChildProcess {
        try ChildProcess(["-c", script] + arguments, executable: try executableOnPath("python3"), pipeInput: pipeInput)
    }

    /// Reads standard output lines until one starts with `prefix` and returns the rest of it.
    func readLine(startingWith prefix: String, deadline: Deadline) async throws -> String {
        while true {
            let line = try await readLine(deadline: deadline)
            if line.hasPrefix(prefix) { return String(line.dropFirst(prefix.count)) }
        }
    }

    /// Waits until the child's standard error contains `text`.
    /// - Throws: `IOError` `.timedOut` at `deadline`.
    func waitForErrorOutput(containing text: String, deadline: Deadline) async throws {
        while !errorText().contains(text) {
            if deadline.hasPassed { throw IOError.timedOut("no \"\(text)\" on stderr; stderr: \(errorText())") }
            try await Hub.sleep(for: .milliseconds(5))
        }
    }

    /// Reads `openssl s_server -accept 127.0.0.1:0`'s "ACCEPT 127.0.0.1:PORT" line; returns the port.
    func opensslAcceptPort(within limit: Duration = .seconds(10)) async throws -> Int {
        let address = try await readLine(startingWith: "ACCEPT ", deadline: .after(limit))
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ChildProcessError(description: "unexpected ACCEPT line: \(address)")
        }
        return port
    }
}

/// A GreenIO TLS line-echo server on the calling green thread's hub, for peers GreenIO did not
/// write: each accepted connection gets its own green thread, which performs the server handshake
/// (with a 10 s timeout) and echoes lines through `makeReadWritePair` until the end of the stream.
/// How each connection ended is recorded, in order. Used on one hub thread only.
final class GreenTLSEchoServer: @unchecked Sendable {
    /// How one connection ended.
    struct Ending: Sendable, CustomStringConvertible {
        /// Lines echoed.
        var lines: Int
        /// The negotiated protocol version, nil if the handshake failed.
        var version: String?
        /// nil for a clean end of stream; else what ended the connection.
        var error: (any Error)?

        /// The error as an `IOError`, if it is one.
        var ioError: IOError? { error as? IOError }
        var description: String { "lines \(lines), version \(version ?? "none"), error \(error.map { "\($0)" } ?? "none")" }
    }

    let port: Int
    private let listener: Socket
    private var endings: [Ending] = []
    private var taken = 0

    private init(listener: Socket, port: Int) {
        self.listener = listener
        self.port = port
    }

    /// Listens on 127.0.0.1 (a free port) and serves until `close()`.
    static func start(context: TLSContext, suppressRaggedEOFs: Bool = true) async throws -> GreenTLSEchoServer {
        guard let hub = Hub.current else { throw IOError(.notOnHub, "needs a hub") }
        let listener = try await Socket.listen(host: "127.0.0.1", port: 0)
        let server = GreenTLSEchoServer(listener: listener, port: try listener.localAddress().port ?? 0)
        hub.spawn {
            while let (connection, _) = try? await listener.accept() {
                hub.spawn { await server.serve(connection, context: context, suppressRaggedEOFs: suppressRaggedEOFs) }
            }
        }
        return server
    }

    private func serve(_ connection: Socket, context: TLSContext, suppressRaggedEOFs: Bool) async {
        var ending = Ending(lines: 0)
        do {
            try connection.setTimeout(.timeout(.seconds(10)))
            let tls = try await TLSSocket.wrap(connection, context: context, suppressRaggedEOFs: suppressRaggedEOFs)
            defer { tls.close() }
            ending.version = tls.negotiatedVersion
            let file = try tls.makeReadWritePair()
            defer { file.reader.close() }
            while let line = try await file.readLine(), !line.isEmpty {
                _ = try await file.write(line)
                try await file.flush()
                ending.lines += 1
            }
        } catch {
            ending.error = error
        }
        endings.append(ending)
    }

    /// The next connection ending not returned yet, waiting for it until `limit` has passed.
    func nextEnding(within limit: Duration = .seconds(10)) async throws -> Ending {
        let deadline = Deadline.after(limit)
        while taken == endings.count {
            if deadline.hasPassed { throw IOError.timedOut("no connection ended within \(limit)") }
            try await Hub.sleep(for: .milliseconds(5))
        }
        taken += 1
        return endings[taken - 1]
    }

    /// Stops accepting.
    func close() { listener.close() }
}
