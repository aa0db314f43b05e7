#if os(Linux)
import CGreenIO
import GreenIO
import Glibc

/// SIGINT and SIGTERM (and SIGHUP, when the server reloads on it) delivered through a signalfd, so
/// a server stops or reloads between two steps of its own choosing instead of inside a signal
/// handler.
final class StopSignals: Sendable {
    /// The non-blocking signalfd that reports the blocked signals.
    let fileDescriptor: Int32

    /// Blocks SIGINT and SIGTERM (and SIGHUP with `hangUp`) for the calling thread (and the threads
    /// it creates later) and opens a signalfd for them. A thread created earlier that does not
    /// block them would receive them instead, and the process would end.
    /// - Throws: `IOError` `.system` if the signals cannot be blocked or the signalfd not created.
    init(hangUp: Bool = false) throws {
        fileDescriptor = try (Self.stopSignals + (hangUp ? [SIGHUP] : [])).withUnsafeBufferPointer { signals in
            let fd = cgreenio_block_signals_fd(signals.baseAddress, Int32(signals.count))
            guard fd >= 0 else { throw IOError.system(.current) }
            return fd
        }
    }

    deinit { Glibc.close(fileDescriptor) }

    static let stopSignals: [Int32] = [SIGINT, SIGTERM]

    /// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread only (a server's hub threads do
    /// this, so the signals reach the thread that waits for them, or take their default action
    /// there). The corresponding C function is `pthread_sigmask`.
    static func blockInThisThread() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in stopSignals + [SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Blocks the calling thread until a signal of the set arrives, or `event` is signalled.
    /// - Returns: the signal's number, or nil for the event.
    func waitBlocking(orUntil event: WakeEvent) -> Int32? {
        while true {
            var polled = [pollfd(fd: fileDescriptor, events: Int16(POLLIN), revents: 0),
                          pollfd(fd: event.fileDescriptor, events: Int16(POLLIN), revents: 0)]
            if case .failure = valueOrErrno(retryOnInterrupt: true, { poll(&polled, 2, -1) }) { return nil }
            if polled[1].revents != 0 { return nil }
            if let number = readSignal() { return number }
        }
    }

    /// Reads one pending signal's number without waiting; nil if none (errno says why).
    private func readSignal() -> Int32? {
        // struct signalfd_siginfo is 128 bytes and starts with the signal number (uint32_t).
        var info = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0),
                    UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let count = withUnsafeMutableBytes(of: &info) { Glibc.read(fileDescriptor, $0.baseAddress, $0.count) }
        guard count == MemoryLayout.size(ofValue: info) else { return nil }
        return Int32(truncatingIfNeeded: info.0 & 0xFFFF_FFFF)
    }

    /// "SIGINT", "SIGTERM", "SIGHUP", or "signal N".
    static func name(of number: Int32) -> String {
        switch number {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(number)"
        }
    }
}
#else
#error("GreenIO supports Linux only: the server receives its stop signals through a signalfd")
#endif
