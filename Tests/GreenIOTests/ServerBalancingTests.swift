import Glibc
import GreenIO
import GreenIOServer
import Testing

/// `AcceptBalancing.leastConnections`: hub 0 accepts, each connection is served by the hub serving
/// the fewest; stopping closes what was handed over.
@Suite("Server accept balancing", .timeLimit(.minutes(1)))
struct ServerBalancingTests {
    @Test("least connections over 2 hubs: 10 connections served 5 and 5 (all accepted by hub 0); after 4 of hub 1's close, the next 4 go to hub 1; a stop closes them all")
    func leastConnectionsSpreadsEvenly() async throws {
        let store = LogStore()
        let (server, port) = try startTestServer {
            $0.hubs = 2
            $0.acceptBalancing = .leastConnections
            $0.logger = collectingLogger(store)
        }
        let clients = try await onHub(limit: .seconds(40)) { () -> [Socket] in
            var clients: [Socket] = []
            for index in 0..<10 {
                let client = try await connectToServer(port: port)
                clients.append(client)
                #expect(try await echoCheck(client, "line \(index)\n", within: .seconds(5)) == nil)
            }
            #expect(server.openConnectionsPerHub == [5, 5])
            #expect(server.acceptedCountPerHub == [10, 0])
            // Ties go to hub 0, so the odd connections are hub 1's.
            for index in [1, 3, 5, 7] { clients[index].close() }
            try await waitUntil("hub 1 down to one connection") { server.openConnectionsPerHub == [5, 1] }
            for index in 10..<14 {
                let client = try await connectToServer(port: port)
                clients.append(client)
                #expect(try await echoCheck(client, "line \(index)\n", within: .seconds(5)) == nil)
            }
            #expect(server.openConnectionsPerHub == [5, 5])
            return clients
        }
        let opened = store.events.filter { $0.message.hasPrefix("open ") }
        #expect(opened.filter { $0.metadata["hub"] == "0" }.count == 5, "served on hub 0")
        #expect(opened.filter { $0.metadata["hub"] == "1" }.count == 9, "served on hub 1 (5, then 4 more)")
        try await stopTestServer(server)
        try await onHub(limit: .seconds(20)) { () async throws in
            for (index, client) in clients.enumerated() where ![1, 3, 5, 7].contains(index) {
                #expect(try await receive(client, count: 1, within: .seconds(5)).isEmpty, "connection \(index) closed by the stop")
                client.close()
            }
        }
        #expect(server.openConnectionsPerHub == [0, 0])
    }

    @Test("least connections with one hub is the plain accept loop")
    func leastConnectionsOneHub() async throws {
        let (server, port) = try startTestServer { $0.acceptBalancing = .leastConnections }
        try await onHub { () async throws in
            let client = try await connectToServer(port: port)
            defer { client.close() }
            #expect(try await echoCheck(client, "one\n", within: .seconds(5)) == nil)
            #expect(server.openConnectionsPerHub == [1])
        }
        try await stopTestServer(server)
    }
}
