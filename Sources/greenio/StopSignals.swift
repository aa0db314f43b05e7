import CGreenIO
import GreenIO
import Glibc

/// SIGINT and SIGTERM delivered through a signalfd that a green thread waits on, so that a
/// server stops between two steps of its own choosing instead of inside a signal handler.
final class StopSignals: Sendable {
    /// The non-blocking signalfd that reports the blocked signals.
    let fileDescriptor: Int32

    /// Blocks SIGINT and SIGTERM for the calling thread (and the threads it creates later) and
    /// opens a signalfd for them. Call it before any thread is created, or a thread that still
    /// has the signals unblocked would receive them and end the process.
    ///
    /// - Throws: `IOError` `.system` if the signals cannot be blocked or the signalfd not created.
    init() throws {
        let signals: [Int32] = [SIGINT, SIGTERM]
        let fd = signals.withUnsafeBufferPointer { cgreenio_block_signals_fd($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { throw IOError.system(.current) }
        fileDescriptor = fd
    }

    deinit { Glibc.close(fileDescriptor) }

    /// Parks the calling green thread until SIGINT or SIGTERM arrives and returns its name.
    ///
    /// - Throws: `CancellationError` if the green thread is cancelled; `IOError` if the signalfd
    ///   fails or the call is not in a green thread.
    func next() async throws -> String {
        guard let hub = Hub.current else {
            throw IOError(.notOnHub, "waiting for a signal needs a green thread")
        }
        // struct signalfd_siginfo is 128 bytes and starts with the signal number (uint32_t).
        var info = [UInt8](repeating: 0, count: 128)
        while true {
            let count = info.withUnsafeMutableBytes { Glibc.read(fileDescriptor, $0.baseAddress, $0.count) }
            if count == info.count {
                let number = info.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                return number == UInt32(SIGINT) ? "SIGINT" : number == UInt32(SIGTERM) ? "SIGTERM" : "signal \(number)"
            }
            if count < 0 && errno != EAGAIN && errno != EINTR { throw IOError.system(.current) }
            try await hub.wait(for: .read, on: fileDescriptor)
        }
    }
}
