import GreenIO
import Glibc

/// The server behind `greenio serve`: `hubs` hubs on as many threads, each with its own listener
/// on the same address (with `SO_REUSEPORT` when there are several, so the kernel spreads the
/// connections), an accept loop per hub that only accepts, and one green thread per connection on
/// the hub that accepted it: a line echo (`EchoSession`) or, with `resp`, a Redis-protocol session
/// (`RESPSession`). The first hub runs on the calling thread and waits for SIGINT/SIGTERM.
struct EchoServer: Sendable {
    let host: String
    let port: Int
    let settings: EchoSettings
    /// Serve over TLS with these settings; nil for plain TCP.
    let tls: ServerTLS?
    /// Speak RESP with these settings instead of echoing lines; nil for the line echo.
    var resp: RESPSettings? = nil
    /// How many hubs (threads) accept and serve connections.
    var hubs = 1

    /// Runs the server until SIGINT or SIGTERM, then stops accepting, closes the listeners, stops
    /// the hubs (connections still open are cancelled and closed on the way out), prints the
    /// per-hub connection counts to standard error and returns.
    ///
    /// - Throws: `IOError` if the signals or the hubs cannot be set up; `ServeFailure` if the address
    ///   cannot be bound or accepting fails for good.
    func run() throws {
        // Before any thread exists, so that every thread inherits the blocked signals.
        let signals = try StopSignals()
        signal(SIGPIPE, SIG_IGN)
        let counters = (0..<hubs).map { _ in ConnectionCounter() }
        try Hub.run { try await self.serve(counters: counters, stoppingOn: signals) }
        let counts = counters.enumerated().map { "hub\($0.offset)=\($0.element.value)" }
        StandardStreams.printError("connections per hub: " + counts.joined(separator: " "))
    }

    private func serve(counters: [ConnectionCounter], stoppingOn signals: StopSignals) async throws {
        guard let mainHub = Hub.current else { throw IOError(.notOnHub, "the server must run on a hub") }
        let workers = try await startWorkers(mainHub: mainHub)
        let address = try workers[0].listener.localAddress()
        let startLine = "listening on \(address)" + (tls.map { " (tls, sha256 \($0.fingerprint))" } ?? "")
        StandardStreams.printLine(startLine)
        StandardStreams.printError(startLine)
        if hubs > 1 { StandardStreams.printError("serving on \(hubs) hubs (SO_REUSEPORT)") }

        let accepting = workers.enumerated().map { index, worker in
            worker.hub.spawn {
                try await self.acceptConnections(on: worker.listener, hub: worker.hub, index: index,
                                                 counter: counters[index])
            }
        }
        let outcome = await waitForStop(signals, accepting: accepting)
        let others = workers.dropFirst().map(\.hub)
        for hub in others { hub.stop() }
        await waitUntilFinished(others)
        try outcome.get()
    }

    /// Waits for SIGINT or SIGTERM, or for an accept loop to end (which it does only by failing),
    /// whichever comes first; then cancels every accept loop (each closes its listener).
    private func waitForStop(_ signals: StopSignals, accepting: [Task<Void, any Error>]) async -> Result<Void, any Error> {
        await withTaskGroup(of: Result<Void, any Error>.self) { group in
            group.addTask {
                do {
                    StandardStreams.printError("\(try await signals.next()) received, stopping")
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            for (index, task) in accepting.enumerated() {
                group.addTask {
                    do {
                        try await task.value
                        return .failure(ServeFailure("hub \(index) stopped accepting"))
                    } catch {
                        return .failure(error)
                    }
                }
            }
            let first = await group.next() ?? .success(())
            for task in accepting { task.cancel() }
            group.cancelAll()
            return first
        }
    }

    /// Waits until the hubs' threads have left their loops (polling; at most a few seconds).
    private func waitUntilFinished(_ hubs: [Hub]) async {
        let deadline = Deadline.after(.seconds(5))
        while !hubs.allSatisfy(\.hasFinished) && !deadline.hasPassed {
            try? await Hub.sleep(for: .milliseconds(5))
        }
    }
}

/// A failure that ends `greenio serve`, with the one-line message to print.
struct ServeFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
