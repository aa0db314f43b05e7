import CGreenIO
import GreenIO
import Glibc

/// A wake-up that any thread can send and one green thread waits for: an eventfd. Signals sent
/// while no one waits are kept (the counter stays readable) until the next `wait`.
final class WakeEvent: Sendable {
    /// The non-blocking eventfd.
    let fileDescriptor: Int32

    /// Creates the eventfd.
    /// - Throws: `IOError` `.system` (`EMFILE`, …).
    init() throws {
        let fd = cgreenio_eventfd()
        guard fd >= 0 else { throw IOError.system(.current) }
        fileDescriptor = fd
    }

    deinit { Glibc.close(fileDescriptor) }

    /// Wakes the waiter (now, or its next wait). Callable from any thread. The corresponding C
    /// call is `write` of an 8-byte 1.
    func signal() {
        var one: UInt64 = 1
        _ = Glibc.write(fileDescriptor, &one, 8)
    }

    /// Parks the calling green thread until `signal()` was called since the last wait returned, or
    /// until `deadline`.
    /// - Throws: `IOError` `.timedOut` once the deadline passes; `CancellationError`; `IOError`
    ///   `.notOnHub` outside a green thread.
    func wait(until deadline: Deadline = .distantFuture) async throws {
        guard let hub = Hub.current else { throw IOError(.notOnHub, "waiting for an event needs a green thread") }
        while true {
            var value: UInt64 = 0
            if Glibc.read(fileDescriptor, &value, 8) == 8 { return }
            try await hub.wait(for: .read, on: fileDescriptor, deadline: deadline)
        }
    }
}
