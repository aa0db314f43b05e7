import Testing
@testable import GreenIO

@Suite("Examples", .timeLimit(.minutes(1)))
struct ExampleTests {
    @Test("smtp-example upgrades to TLS with STARTTLS, sends a message and exits 0")
    func smtpExample() async throws {
        let executable = String(greenioExecutable.dropLast("greenio".count)) + "smtp-example"
        let (output, status) = try await onHub(limit: .seconds(30)) {
            let child = try ChildProcess([], executable: executable)
            defer { child.terminate() }
            let output = try await child.readAllOutput(deadline: .after(.seconds(20)))
            return (text(output), try await child.waitForExit(deadline: .after(.seconds(10))))
        }
        #expect(status == 0, "\(output)")
        #expect(output.contains("S: 530 Must issue a STARTTLS command first"))
        #expect(output.contains("(client: TLS up, TLSv1.3"))
        #expect(output.contains("S: 250 OK: queued, 40 bytes for 1 recipient(s)"))
        #expect(output.hasSuffix("done\n"))
    }
}
