import GreenIO

extension ConformanceProbe {
    /// The time since `start` on the hub's clock (the clock deadlines use).
    static func elapsed(since start: Deadline) -> Duration {
        .zero - start.remaining
    }

    /// Runs `body`, which must throw `IOError` `.timedOut` with `message` (when given) no sooner
    /// than `atLeast` and no later than `atMost`; records a failure naming `what` otherwise.
    func expectTimedOut(_ what: String, message: String?, atLeast: Duration = shortAtLeast,
                        atMost: Duration = shortAtMost, _ body: () async throws -> Void) async {
        let start = Deadline.now
        do {
            try await body()
            fail("\(what): expected .timedOut, but it returned")
        } catch let error as IOError where error.kind == .timedOut {
            let took = Self.elapsed(since: start)
            if let message { expect(error.message == message, "\(what): timed out with \"\(error.message)\", expected \"\(message)\"") }
            expect(took >= atLeast, "\(what): timed out after \(took), before \(atLeast)")
            expect(took <= atMost, "\(what): timed out only after \(took) (at most \(atMost) expected)")
        } catch {
            fail("\(what): expected .timedOut, got \(error)")
        }
    }

    /// Runs `body` and records a failure naming `what` when it takes longer than `atOnce`.
    func expectPrompt<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        let start = Deadline.now
        let value = try await body()
        let took = Self.elapsed(since: start)
        expect(took <= Self.atOnce, "\(what) took \(took), expected at once")
        return value
    }
}
