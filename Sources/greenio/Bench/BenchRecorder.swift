import GreenIO
import Glibc

/// The shared state of one `greenio bench` run: its phase (warm-up, measuring, finished), and what
/// the connections report — lines and batch round trips completed while measuring, errors and
/// mismatches. Every green thread of the run is on one hub, so it is used from the hub thread only.
final class BenchRecorder: @unchecked Sendable {
    /// Where the run is.
    enum Phase {
        /// Batches are checked but not counted.
        case warmingUp
        /// Batches completed now are counted.
        case measuring
        /// Connections finish the batch they are in and stop.
        case finished
    }

    private(set) var phase = Phase.warmingUp
    /// Lines echoed and checked in batches completed while measuring (with `--churn`: connections,
    /// each one line).
    private(set) var lines = 0
    /// With `--churn`: connections completed while measuring that resumed a TLS session.
    private(set) var resumed = 0
    /// The round trips of the batches completed while measuring.
    private(set) var roundTrips = LatencyHistogram()
    /// Connections ended by an error (connection reset, timeout, early close, …).
    private(set) var errors = 0
    /// Connections ended by an echo that differs from what was sent.
    private(set) var mismatches = 0
    /// The first error or mismatch, as a one-line message.
    private(set) var firstFailure: String?

    private var measuringStart: Deadline?
    private var cpuAtStart = 0.0
    /// The measuring window's wall time and this process's CPU time (user + system) in it, once finished.
    private(set) var window: (seconds: Double, cpuSeconds: Double)?

    /// Counts a checked batch of `lines` lines that took `roundTrip` nanoseconds, if measuring.
    @inline(__always) func batchCompleted(lines: Int, roundTrip: UInt64) {
        guard phase == .measuring else { return }
        self.lines += lines
        roundTrips.record(nanoseconds: roundTrip)
    }

    /// Counts a completed connection that resumed a TLS session, if measuring (`--churn`).
    func connectionResumed() {
        guard phase == .measuring else { return }
        resumed += 1
    }

    /// Records a connection that failed with `message`.
    func recordError(_ message: String) {
        errors += 1
        if firstFailure == nil { firstFailure = message }
    }

    /// Records a connection whose echo did not match, as `message` describes.
    func recordMismatch(_ message: String) {
        mismatches += 1
        if firstFailure == nil { firstFailure = message }
    }

    /// Ends the warm-up: from now on completed batches count.
    func startMeasuring() {
        guard phase == .warmingUp else { return }
        phase = .measuring
        measuringStart = .now
        cpuAtStart = Self.processCPUSeconds()
    }

    /// Seconds since measuring started (0 before).
    var measuredSeconds: Double {
        guard let measuringStart else { return 0 }
        return Double(Deadline.now.nanoseconds - measuringStart.nanoseconds) / 1e9
    }

    /// Ends the run (idempotent): connections stop after their current batch.
    func finish() {
        guard phase != .finished else { return }
        if phase == .measuring { window = (measuredSeconds, Self.processCPUSeconds() - cpuAtStart) }
        phase = .finished
    }

    /// This process's user + system CPU time so far (`getrusage(RUSAGE_SELF)`).
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
