import Glibc
import Testing
@testable import GreenIO

/// Starts `greenio serve --protocol resp --port 0` with extra options. Call `terminate()` when done.
func startRESPServer(_ options: [String] = []) throws -> ChildProcess {
    try startServer(["--protocol", "resp"] + options)
}

/// What a `redis-cli` or `redis-benchmark` run gave.
struct ToolRun: Sendable {
    var output: String
    var status: Int32
    var errors: String
}

/// Runs a Redis tool (`redis-cli`, `redis-benchmark`; Debian's `redis-tools`, which `.ci/run`
/// installs) with `arguments` and `input` on its standard input (nil: `/dev/null`), to its end.
func runRedisTool(_ tool: String, _ arguments: [String], input: String? = nil,
                  within limit: Duration = .seconds(20)) async throws -> ToolRun {
    let child = try ChildProcess(arguments, executable: try executableOnPath(tool), pipeInput: input != nil)
    defer { child.terminate() }
    let deadline = Deadline.after(limit)
    if let input {
        try await child.writeInput(bytes(input), deadline: deadline)
        child.closeInput()
    }
    let output = try await child.readAllOutput(deadline: deadline)
    let status = try await child.waitForExit(deadline: deadline)
    return ToolRun(output: text(output), status: status, errors: child.errorText())
}

/// Runs `redis-cli --no-raw -p PORT ARGUMENTS…` (with `--tls --insecure` for a TLS server) and
/// returns its output without the final newline, as redis-cli formats replies: `OK`, `"v"`,
/// `(integer) 1`, `(nil)`, `(error) ERR …`, `1) "a"` lines for arrays.
func redisCLI(port: Int, tls: Bool = false, _ arguments: String...) async throws -> String {
    let run = try await runRedisTool("redis-cli", redisCLIOptions(port: port, tls: tls) + arguments)
    #expect(run.status == 0, "redis-cli \(arguments): \(run.errors)")
    return run.output.hasSuffix("\n") ? String(run.output.dropLast()) : run.output
}

/// The options that point `redis-cli` at the local server.
func redisCLIOptions(port: Int, tls: Bool) -> [String] {
    ["--no-raw", "-h", "127.0.0.1", "-p", "\(port)"] + (tls ? ["--tls", "--insecure"] : [])
}

/// Reads the port from a `greenio serve` start line, with or without `--tls`.
func servePort(_ server: ChildProcess, tls: Bool) async throws -> Int {
    tls ? try await server.tlsListening().port : try await server.listeningPort()
}

/// Sends `request` on a GreenIO socket and reads replies until `expected` bytes have come (or the
/// stream ends); returns them as text.
func exchangeRESP(_ socket: Socket, _ request: String, expecting expected: String) async throws -> String {
    try await socket.sendAll(bytes(request))
    return text(try await receive(socket, count: expected.utf8.count))
}

/// The replies of `redis-benchmark -q`: one "NAME: N requests per second, …" line per test, with the
/// progress lines it overwrites with carriage returns removed.
func benchmarkResults(_ output: String) -> [String: Double] {
    var results: [String: Double] = [:]
    for line in output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }) {
        guard let colon = line.firstIndex(of: ":"), let marker = line.range(of: " requests per second") else { continue }
        let name = line[..<colon].trimming(" ")
        let number = line[line.index(after: colon)..<marker.lowerBound].trimming(" ")
        if let rate = Double(number) { results[name] = rate }
    }
    return results
}

extension StringProtocol {
    /// The string without `character` at either end.
    func trimming(_ character: Character) -> String {
        var slice = self[...]
        while slice.first == character { slice = slice.dropFirst() }
        while slice.last == character { slice = slice.dropLast() }
        return String(slice)
    }
}
