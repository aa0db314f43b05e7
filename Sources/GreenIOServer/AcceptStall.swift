import GreenIO
import Logging

/// A run of accept failures for want of a resource (descriptors, memory), during which the accept
/// loop retries every `retryInterval`.
///
/// While the server stays at its limit every retry fails again: logging each one would write ten
/// lines a second for as long as the stall lasts (a disk-filling flood when clients hold the
/// server at its limit on purpose). So a stall logs its start, a reminder every
/// `reminderInterval` while it lasts, and its end.
struct AcceptStall {
    /// How long the accept loop sleeps after a failure: connections get a chance to close, and the
    /// listener (still readable, with connections waiting in its backlog) is not polled in a spin.
    static let retryInterval: Duration = .milliseconds(100)
    /// How often a stall that goes on is logged again.
    static let reminderInterval: Duration = .seconds(10)

    private let logger: Logger
    private let start = Deadline.now
    private var nextReminder = Deadline.after(reminderInterval)
    /// Failed accepts so far, the first included.
    private var failures = 1

    /// Starts a stall at its first failure and logs "accept failed: ERROR; retrying every 100 ms".
    init(firstFailure error: any Error, logger: Logger) {
        self.logger = logger
        logger.error("accept failed: \(error); retrying every \(Self.retryInterval)")
    }

    /// Counts one more failure; logs "accept still failing after N attempts in S s: ERROR" when a
    /// reminder is due.
    mutating func failedAgain(_ error: any Error) {
        failures += 1
        guard nextReminder.hasPassed else { return }
        nextReminder = Deadline.after(Self.reminderInterval)
        logger.error("accept still failing after \(failures) attempts in \(elapsed) s: \(error)")
    }

    /// Logs the end of the stall: "accepting again after N failed attempts in S s".
    func ended() {
        logger.notice("accepting again after \(failures) failed attempts in \(elapsed) s")
    }

    /// Seconds since the first failure, to the millisecond.
    private var elapsed: Double {
        (Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e6).rounded() / 1e3
    }
}
