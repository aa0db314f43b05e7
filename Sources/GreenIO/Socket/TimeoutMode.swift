import Synchronization

/// A socket's timeout mode: Python's three, as one value.
///
/// | Python `gettimeout()` | GreenIO |
/// |---|---|
/// | `None` | ``TimeoutMode/blocking``: operations wait (on the hub) as long as it takes |
/// | `0.0` | ``TimeoutMode/nonBlocking``: operations that cannot complete at once report "would block" |
/// | `t > 0` | ``TimeoutMode/timeout(_:)``: each raw operation waits at most `t`, then fails with "timed out" |
///
/// Set it with ``Socket/setTimeout(_:)`` or ``Socket/setTimeout(seconds:)``; new sockets start in
/// ``TimeoutMode/default``.
///
/// The mode is what the caller asked for. It is separate from the descriptor's `O_NONBLOCK` flag,
/// which is always set for sockets on a hub (eventlet #308 came from mixing the two up).
public enum TimeoutMode: Hashable, Sendable, CustomStringConvertible {
    /// Python's `settimeout(None)`: an operation that cannot complete parks its green thread until
    /// it can (other green threads run meanwhile).
    case blocking
    /// Python's `settimeout(0)`: an operation that cannot complete at once reports "would block".
    case nonBlocking
    /// Python's `settimeout(t)`: each raw operation parks at most this long, then throws
    /// `IOError` `.timedOut` "timed out". A zero duration is `.nonBlocking` (`validated()`).
    case timeout(Duration)

    /// Validates and normalises a mode: a zero timeout is `.nonBlocking`, a negative one is an error.
    ///
    /// - Throws: `IOError` `.invalidArgument` "Timeout value out of range" for a negative duration.
    public func validated() throws -> TimeoutMode {
        guard case .timeout(let duration) = self else { return self }
        if duration < .zero { throw IOError.invalidArgument("Timeout value out of range") }
        if duration == .zero { return .nonBlocking }
        // Python rounds timeouts up to whole nanoseconds (1e-10 becomes 1e-9).
        return .timeout(.nanoseconds(duration.nanosecondsRoundedUp))
    }

    /// Converts Python's `settimeout` argument: nil is blocking, 0 is non-blocking, a positive
    /// number of seconds is a timeout (rounded up to whole nanoseconds; -0.0 is 0).
    ///
    /// - Throws: `IOError` `.invalidArgument` with Python's messages: "Timeout value out of range"
    ///   for negative values, "Invalid value NaN (not a number)" for NaN, and
    ///   "timestamp out of range for platform time_t" for infinite or too-large values.
    public init(seconds: Double?) throws {
        guard let seconds else {
            self = .blocking
            return
        }
        if seconds.isNaN { throw IOError.invalidArgument("Invalid value NaN (not a number)") }
        if seconds < 0 { throw IOError.invalidArgument("Timeout value out of range") }
        if seconds.isInfinite || seconds > 9.2e9 {
            throw IOError.invalidArgument("timestamp out of range for platform time_t")
        }
        if seconds == 0 {
            self = .nonBlocking
            return
        }
        let nanoseconds = (seconds * 1e9).rounded(.up)
        self = .timeout(.nanoseconds(Int64(nanoseconds)))
    }

    /// Python's `gettimeout()`: nil for blocking, 0 for non-blocking, else the timeout in seconds.
    public var seconds: Double? {
        switch self {
        case .blocking: return nil
        case .nonBlocking: return 0
        case .timeout(let duration):
            let (s, atto) = duration.components
            return Double(s) + Double(atto) / 1e18
        }
    }

    /// The deadline a raw operation starting now gets in this mode (nil when non-blocking).
    @inline(__always) package func deadline(capping limit: Deadline?) -> Deadline {
        switch self {
        case .blocking, .nonBlocking:
            return limit ?? .distantFuture
        case .timeout(let duration):
            let own = Deadline.after(duration)
            guard let limit else { return own }
            return min(own, limit)
        }
    }

    /// "blocking", "non-blocking" or "timeout" and the duration.
    public var description: String {
        switch self {
        case .blocking: return "blocking"
        case .nonBlocking: return "non-blocking"
        case .timeout(let duration): return "timeout \(duration)"
        }
    }

    // MARK: Process-wide default (socket.setdefaulttimeout)

    private static let defaultStorage = Mutex<TimeoutMode>(.blocking)
    private static let defaultStorageTag = TracedLockTag()

    /// The mode new sockets start in — sockets created, accepted, paired or adopted from a
    /// descriptor, and `Socket.connect(host:port:)` without an explicit timeout. Initially
    /// `.blocking`; Python's `socket.getdefaulttimeout()` / `setdefaulttimeout()`.
    public static var `default`: TimeoutMode {
        get { defaultStorage.withLockTraced(by: defaultStorageTag) { $0 } }
        set { defaultStorage.withLockTraced(by: defaultStorageTag) { $0 = (try? newValue.validated()) ?? $0 } }
    }

    /// Sets the process-wide default mode after validating it.
    /// - Throws: `IOError` `.invalidArgument` "Timeout value out of range" for a negative duration.
    public static func setDefault(_ mode: TimeoutMode) throws {
        let valid = try mode.validated()
        defaultStorage.withLockTraced(by: defaultStorageTag) { $0 = valid }
    }
}
