import Testing
@testable import GreenIO

@Suite("Smoke", .timeLimit(.minutes(1)))
struct SmokeTests {
    @Test("a socketpair echoes through two green threads")
    func socketPairEcho() async throws {
        let reply = try await onHub {
            let (a, b) = try Socket.pair()
            defer { a.close(); b.close() }
            let hub = Hub.current!
            hub.spawn {
                let data = try await b.recv(100)
                try await b.sendAll(data.reversed())
            }
            try await a.sendAll(bytes("hello"))
            return try await a.recv(100)
        }
        #expect(reply == bytes("olleh"))
    }
}
