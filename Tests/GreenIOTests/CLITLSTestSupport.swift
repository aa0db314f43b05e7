import Glibc
import Testing
@testable import GreenIO

extension ChildProcess {
    /// Reads `greenio serve --tls`'s start line, exactly `listening on HOST:PORT (tls, sha256 FINGERPRINT)`,
    /// and returns the port and the fingerprint.
    func tlsListening(within limit: Duration = .seconds(10)) async throws -> (port: Int, fingerprint: String) {
        let line = try await readLine(deadline: .after(limit))
        let marker = " (tls, sha256 "
        guard line.hasPrefix("listening on "), line.hasSuffix(")"), let open = line.range(of: marker) else {
            throw ChildProcessError(description: "unexpected first line: \(line)")
        }
        let address = line[line.index(line.startIndex, offsetBy: "listening on ".count)..<open.lowerBound]
        let fingerprint = String(line[open.upperBound..<line.index(before: line.endIndex)])
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ChildProcessError(description: "no port in: \(line)")
        }
        return (port, fingerprint)
    }
}

/// True for a SHA-256 fingerprint written as 32 colon-separated pairs of upper-case hex digits.
func isFingerprint(_ text: String) -> Bool {
    let pairs = text.split(separator: ":", omittingEmptySubsequences: false)
    return pairs.count == 32 && pairs.allSatisfy { pair in
        pair.count == 2 && pair.allSatisfy { ("0"..."9").contains($0) || ("A"..."F").contains($0) }
    }
}

/// Connects a GreenIO TLS client to a local `greenio serve --tls` (verifying as "localhost" with
/// `verification`, unless it is `.insecureNoVerification`).
func connectTLS(port: Int, verification: PeerVerification) async throws -> TLSSocket {
    let context = try TLSContext.client(verification: verification)
    return try await TLSSocket.connect(host: "127.0.0.1", port: port, context: context,
                                       serverHostname: "localhost", timeout: .timeout(.seconds(5)))
}

/// Sends `lines` one at a time through a TLS socket's `makefile` pair and returns the echoes;
/// then sends close_notify and reads to the server's end of stream (which must come).
func echoOverTLS(_ tls: TLSSocket, _ lines: [String]) async throws -> [String] {
    let file = try tls.makeReadWritePair()
    defer { file.reader.close() }
    var echoed: [String] = []
    for line in lines {
        _ = try await file.write(bytes(line + "\n"))
        try await file.flush()
        echoed.append(text(try await file.readLine() ?? []))
    }
    try tls.shutdown(.write)
    let rest = try await file.read()
    if let rest, !rest.isEmpty { echoed.append("unexpected: " + text(rest)) }
    return echoed
}

/// Runs `greenio connect ARGUMENTS` with `input` on its standard input (nil: `/dev/null`, for runs
/// that may fail before reading it: writing to a pipe nobody reads would raise SIGPIPE here);
/// returns its standard output, exit code and standard error.
func runConnect(_ arguments: [String], input: String?) async throws -> (output: String, status: Int32, errors: String) {
    let client = try ChildProcess(["connect"] + arguments, pipeInput: input != nil)
    defer { client.terminate() }
    if let input {
        try await client.writeInput(bytes(input), deadline: .after(.seconds(10)))
        client.closeInput()
    }
    let output = try await client.readAllOutput(deadline: .after(.seconds(10)))
    let status = try await client.waitForExit(deadline: .after(.seconds(10)))
    return (text(output), status, client.errorText())
}
