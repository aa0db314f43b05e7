import GreenIO

/// How one direction of a ``ScriptedSocket`` pair behaves: how the bytes one end sends reach the
/// other end, and what happens at chosen offsets of the stream.
///
/// A script is a value; build it with the initializer and ``Script/at(_:_:)``:
///
/// ```swift
/// let script = Script(chunkSize: 3, sendWindow: 16, ending: .reset)
///     .at(10, .pause(.seconds(2)))        // the receiver waits 2 s before byte 10
///     .at(20, .receiveError(IOError.system(.connectionReset)))
/// ```
///
/// Offsets count the bytes of this direction's stream from 0. An event at offset K acts on the
/// receive (or send) that would move byte K: the receive before it returns at most the bytes up to
/// K, so the event happens at exactly that byte however the bytes are chunked.
public struct Script: Sendable {
    /// What happens at one offset of the stream.
    public enum Event: Sendable {
        /// The receive at this offset reports "would block" once, in the given direction (a TLS
        /// read may need to write): `.wouldBlock(interest)` in non-blocking mode; in blocking and
        /// timeout modes the receive goes through one hub wait that ends at once (a spurious
        /// wake-up) and goes on.
        case receiveWouldBlock(Interest)
        /// The send at this offset reports "would block" once, in the given direction, as
        /// `receiveWouldBlock` does for a receive. It accepts no byte.
        case sendWouldBlock(Interest)
        /// The receiver gets nothing from this offset on until `deadline` (on the hub's clock,
        /// `Deadline.now`): receives and `waitUntilReadable` wait for it (or throw `.timedOut` when
        /// their own timeout or deadline comes first); non-blocking receives report
        /// `.wouldBlock(.read)`.
        case stall(until: Deadline)
        /// As `stall(until:)`, for `duration` from the moment a receive or `waitUntilReadable`
        /// first reaches this offset.
        case pause(Duration)
        /// The receive at this offset throws `error` once; the stream then goes on after it.
        case receiveError(IOError)
        /// The send at this offset throws `error` once, accepting no byte; later sends go on.
        case sendError(IOError)
    }

    /// An event and the stream offset it happens at.
    public struct Cue: Sendable {
        /// The offset (0 = before the first byte).
        public var offset: Int
        /// What happens there.
        public var event: Event

        /// A cue for `event` at `offset`.
        public init(offset: Int, event: Event) {
            self.offset = offset
            self.event = event
        }
    }

    /// The most bytes one receive returns (nil: as many as are waiting and fit). Values below 1
    /// count as 1.
    public var chunkSize: Int?
    /// The most bytes sent and not yet received (nil: unbounded). A send takes what fits — a
    /// partial send — and, when nothing fits, waits (blocking and timeout modes) or reports
    /// `.wouldBlock(.write)` (non-blocking) until the receiver makes room. Values below 1 count
    /// as 1.
    public var sendWindow: Int?
    /// How the receiver sees the sender's `shutdown(.write)` or real close.
    public var ending: StreamEnding
    /// The events, in the order given; events at one offset happen in that order.
    public var cues: [Cue]

    /// A script; with no arguments, a plain in-order byte stream with a clean end.
    public init(chunkSize: Int? = nil, sendWindow: Int? = nil, ending: StreamEnding = .clean, cues: [Cue] = []) {
        self.chunkSize = chunkSize
        self.sendWindow = sendWindow
        self.ending = ending
        self.cues = cues
    }

    /// This script with `event` added at `offset` (after any events already there).
    public func at(_ offset: Int, _ event: Event) -> Script {
        var copy = self
        copy.cues.append(Cue(offset: offset, event: event))
        return copy
    }
}
