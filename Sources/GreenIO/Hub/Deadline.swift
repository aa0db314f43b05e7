import CGreenIO

/// An absolute point on the hub's clock, with nanosecond resolution: `CLOCK_MONOTONIC`, or — on
/// the thread of a hub running on virtual time (GreenIOTesting's `VirtualTime`) — that hub's
/// virtual clock. Make deadlines on the thread of the hub that uses them.
///
/// Deadlines give one budget to a whole call or to several calls (Go style); timeouts are turned
/// into a deadline once per raw operation. ``Deadline/distantFuture`` means "no deadline"; make one
/// with ``Deadline/after(_:)``.
public struct Deadline: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since an arbitrary fixed point (the system's boot).
    public let nanoseconds: UInt64

    /// A deadline at the given monotonic nanosecond count.
    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current time on the calling thread's hub clock.
    @inlinable public static var now: Deadline { Deadline(nanoseconds: cgreenio_monotonic_ns()) }

    /// A deadline that never passes.
    public static let distantFuture = Deadline(nanoseconds: .max)

    /// The deadline `duration` from now. Negative durations give a deadline in the past; durations
    /// too long for the clock give `distantFuture`. Sub-nanosecond parts round up.
    public static func after(_ duration: Duration) -> Deadline {
        Deadline.now.advanced(by: duration)
    }

    /// This deadline moved by `duration` (saturating at both ends of the clock).
    public func advanced(by duration: Duration) -> Deadline {
        let ns = duration.nanosecondsRoundedUp
        if ns >= 0 {
            let (sum, overflow) = nanoseconds.addingReportingOverflow(UInt64(ns))
            return Deadline(nanoseconds: overflow ? .max : sum)
        }
        let magnitude = UInt64(ns.magnitude)
        return Deadline(nanoseconds: nanoseconds > magnitude ? nanoseconds - magnitude : 0)
    }

    /// The time left until the deadline (zero or negative when it has passed).
    public var remaining: Duration {
        let now = cgreenio_monotonic_ns()
        if nanoseconds == .max { return .seconds(Int64.max) }
        if nanoseconds >= now { return .nanoseconds(Int64(clamping: nanoseconds - now)) }
        return .nanoseconds(-Int64(clamping: now - nanoseconds))
    }

    /// True once the clock has reached the deadline.
    public var hasPassed: Bool { nanoseconds <= cgreenio_monotonic_ns() }

    /// Whether `a` comes before `b` on the clock.
    public static func < (a: Deadline, b: Deadline) -> Bool { a.nanoseconds < b.nanoseconds }

    /// "Deadline(never)" for `distantFuture`, else how far away the deadline is, e.g.
    /// "Deadline(4.99 seconds from now)".
    public var description: String {
        nanoseconds == .max ? "Deadline(never)" : "Deadline(\(remaining) from now)"
    }
}

extension Duration {
    /// The duration in whole nanoseconds, rounding any sub-nanosecond remainder away from zero,
    /// saturating at the bounds of `Int64`.
    var nanosecondsRoundedUp: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        var nanos = attoseconds / 1_000_000_000
        let rest = attoseconds % 1_000_000_000
        if rest > 0 { nanos += 1 } else if rest < 0 { nanos -= 1 }
        let (total, overflow2) = whole.addingReportingOverflow(nanos)
        if overflow2 { return seconds < 0 ? .min : .max }
        return total
    }
}
