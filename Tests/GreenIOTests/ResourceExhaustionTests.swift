import Glibc
import Testing
@testable import GreenIO

extension ResourceUsageTests {
    /// `greenio serve` out of descriptors, and under 10,000 concurrent connections. These measure
    /// CPU time and descriptor counts, so they run one at a time (the parent suite is serialized),
    /// with generous bounds for a shared, noisy machine.
    @Suite("Resource exhaustion", .timeLimit(.minutes(3)))
    struct ResourceExhaustionTests {
        @Test("EMFILE: at a 64-descriptor limit the server logs the failure once, backs off without spinning, keeps echoing on its connections and accepts again when descriptors are freed")
        func acceptAtDescriptorLimit() async throws {
            let limit = 64
            let server = try startServer(fileLimit: limit)
            defer { server.terminate() }
            try await onHub(limit: .seconds(100)) {
                let port = try await server.listeningPort()
                #expect(softFileLimit(pid: server.pid) == limit, "the shell did not lower the server's limit")
                let baseline = try server.openDescriptorCount()

                // Fill the server's descriptor table, one connection at a time; the echo proves the
                // server has accepted it, so the count read next is up to date.
                var served: [Socket] = []
                defer { served.forEach { $0.close() } }
                while try server.openDescriptorCount() < limit {
                    guard served.count < limit else {
                        throw ChildProcessError(description: "\(limit) connections did not fill the server's table")
                    }
                    let socket = try await connectToServer(port: port)
                    served.append(socket)
                    #expect(try await echoCheck(socket, "fill \(served.count)\n", within: .seconds(10)) == nil)
                }
                let descriptorsAtLimit = try server.openDescriptorCount()
                #expect(descriptorsAtLimit == limit)

                // One more: the kernel completes its handshake (the listen backlog), but accept fails.
                let pending = try await connectToServer(port: port)
                defer { pending.close() }
                try await pending.sendAll(bytes("pending\n"))
                try await server.waitForErrorOutput(containing: "accept failed", deadline: .after(.seconds(10)))
                let firstFailure = server.errorLines(containing: "accept failed").first ?? ""
                #expect(firstFailure.contains("Too many open files") && firstFailure.contains("retrying every"),
                        "\(firstFailure)")

                // The stall: the listener stays readable, so a server without a back-off would
                // spin on accept. It may retry, but must stay nearly idle and must not flood its log.
                let logLinesBefore = server.errorLines(containing: "accept failed").count
                let cpuBefore = try #require(processCPUSeconds(pid: server.pid))
                let stallStart = Deadline.now
                try await Hub.sleep(for: .seconds(2))
                let stallCPU = try #require(processCPUSeconds(pid: server.pid)) - cpuBefore
                let stall = seconds(since: stallStart)
                let logLinesDuring = server.errorLines(containing: "accept failed").count - logLinesBefore
                #expect(stallCPU < 0.2, "the server used \(stallCPU) s of CPU in a \(stall) s stall")
                #expect(logLinesDuring <= 1, "\(logLinesDuring) more accept failures logged in \(stall) s")
                #expect(try server.openDescriptorCount() == limit)

                // Connections already open are still served, and the pending one is not (yet).
                for (index, socket) in served.enumerated() {
                    #expect(try await echoCheck(socket, "still \(index)\n", within: .seconds(10)) == nil)
                }
                await expectIOError(.timedOut) { try await receive(pending, count: 8, within: .milliseconds(200)) }

                // Free four descriptors: the server accepts the pending connection, then new ones.
                for socket in served.suffix(4) { socket.close() }
                served.removeLast(4)
                let recoveryStart = Deadline.now
                #expect(text(try await receive(pending, count: 8, within: .seconds(10))) == "pending\n")
                let recovery = seconds(since: recoveryStart)
                let fresh = try await connectToServer(port: port)
                defer { fresh.close() }
                #expect(try await echoCheck(fresh, "fresh\n", within: .seconds(10)) == nil)
                #expect(server.errorLines(containing: "accepting again").count == 1, "\(server.errorText().suffix(2000))")

                pending.close()
                fresh.close()
                served.forEach { $0.close() }
                served = []
                try await server.waitForDescriptorCount(baseline, deadline: .after(.seconds(10)))
                reportMeasurement("EMFILE: limit \(limit), server baseline \(baseline) fds, \(descriptorsAtLimit) at the limit "
                    + "after \(descriptorsAtLimit - baseline) connections; stall CPU \(stallCPU) s over \(stall) s, "
                    + "\(logLinesDuring) log lines; pending connection served \(recovery) s after freeing 4")
            }
        }

        @Test("10,000 concurrent plain connections each echo their own line; the server's descriptors return to baseline")
        func tenThousandPlainConnections() async throws {
            try await manyConnections(10_000, tls: false)
        }

        @Test("2,000 concurrent TLS connections each echo their own line; the server's descriptors return to baseline")
        func twoThousandTLSConnections() async throws {
            try await manyConnections(2_000, tls: true)
        }

        /// Opens `count` connections to one `greenio serve --hubs 1` (plain or TLS), all open at
        /// once; sends a distinct line on each and checks every echo; closes them all and waits for
        /// the server's descriptor count to come back to what it was before the first connection.
        private func manyConnections(_ count: Int, tls: Bool) async throws {
            // Room for this process's own descriptors and those of suites running in parallel.
            let needed = count + 1_000
            let limits = raiseFileLimitToHard()
            try #require(limits.soft >= needed,
                         "\(count) connections need a descriptor limit of \(needed); the hard limit here is \(limits.hard)")
            let server = try startServer(["--hubs", "1"] + (tls ? ["--tls"] : []), fileLimit: limits.soft)
            defer { server.terminate() }
            let label = tls ? "TLS" : "plain"
            try await onHub(limit: .seconds(160)) {
                let port = tls ? try await server.tlsListening().port : try await server.listeningPort()
                let baseline = try server.openDescriptorCount()
                let context = try TLSContext.client(verification: .insecureNoVerification)
                let start = Deadline.now

                var connections: [any EchoClient] = []
                defer { connections.forEach { $0.close() } }
                try await openConnections(count, into: &connections) { _ in
                    try await connectEchoClient(tls: tls, port: port, context: context, timeout: .seconds(30))
                }
                let connected = seconds(since: start)
                // Every connection has its own descriptor in the server at the same time.
                try await server.waitForDescriptorCount(baseline + count, deadline: .after(.seconds(60)))
                let peak = try server.openDescriptorCount()

                let echoStart = Deadline.now
                let failures = try await checkConnections(connections, batch: 1_000) { connection, index in
                    try await echoCheck(connection, "connection \(index) of \(count)\n", within: .seconds(60))
                }
                let echoed = seconds(since: echoStart)
                #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(5))")

                connections.forEach { $0.close() }
                connections = []
                let closeTime = try await server.waitForDescriptorCount(baseline, deadline: .after(.seconds(60)))
                let total = seconds(since: start)
                // Every session ended normally and logged so.
                try await server.waitForErrorLines(containing: "(end of stream)", count: count,
                                                   deadline: .after(.seconds(10)))
                reportMeasurement("\(count) \(label) connections: connected in \(connected) s, server fds "
                    + "\(baseline) -> \(peak) -> \(baseline); all echoed in \(echoed) s; closed in \(closeTime) s; "
                    + "total \(total) s")
            }
        }
    }
}
