#if os(Linux)
import GreenIO

/// A wake-up that any thread can send and one green thread waits for: an eventfd (GreenIO's
/// `EventFD`, as the hub's own wake-up). Signals sent while no one waits are kept (the counter
/// stays readable) until the next `wait`.
final class WakeEvent: Sendable {
    private let event: EventFD

    /// The non-blocking eventfd.
    var fileDescriptor: Int32 { event.fileDescriptor }

    /// Creates the eventfd.
    /// - Throws: `IOError` `.system` (`EMFILE`, …).
    init() throws {
        event = try EventFD()
    }

    deinit { event.close() }

    /// Wakes the waiter (now, or its next wait). Callable from any thread. The corresponding C
    /// call is `write` of an 8-byte 1.
    func signal() {
        event.signal()
    }

    /// Parks the calling green thread until `signal()` was called since the last wait returned, or
    /// until `deadline`.
    /// - Throws: `IOError` `.timedOut` once the deadline passes; `CancellationError`; `IOError`
    ///   `.notOnHub` outside a green thread.
    func wait(until deadline: Deadline = .distantFuture) async throws {
        guard let hub = Hub.current else { throw IOError(.notOnHub, "waiting for an event needs a green thread") }
        while true {
            if event.consume() { return }
            try await hub.wait(for: .read, on: fileDescriptor, deadline: deadline)
        }
    }
}
#else
#error("GreenIO supports Linux only: GreenIOServer's wake-ups are eventfds")
#endif
