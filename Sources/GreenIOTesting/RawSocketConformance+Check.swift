import GreenIO

extension RawSocketConformance {
    /// One named check of the kit. Each description says what a transport must do to pass.
    public enum Check: String, CaseIterable, Sendable, CustomStringConvertible {
        /// Bytes sent one way arrive intact, then bytes sent the other way.
        case roundTrip
        /// Non-blocking sends into a peer that does not read: each returns how many bytes it took
        /// (more than 0, at most what was offered) until one would block, and the peer receives
        /// exactly the bytes the sends reported, no more.
        case partialSends
        /// Non-blocking: a receive with nothing to read reports `.wouldBlock(.read)`, and a send
        /// into a full peer `.wouldBlock(.write)`.
        case wouldBlockDirection
        /// Blocking mode without a deadline: a receive parks until the peer sends, and a send
        /// into a full peer parks until the peer reads; neither reports would-block.
        case blockingMode
        /// Timeout mode: a receive from an idle peer, and a send into a full one, throw `IOError`
        /// `.timedOut` with the transport's message once the timeout has passed, not before;
        /// `waitUntilReadable` returns or times out the same way.
        case timeoutMode
        /// Non-blocking mode never waits: receives, sends and `waitUntilReadable` return at once.
        case nonBlockingMode
        /// A `deadline` shorter than the timeout ends a receive or send with `.timedOut`, in
        /// timeout and blocking modes; a deadline already passed ends it at once.
        case deadlines
        /// After `shutdown(.write)` the peer receives the bytes sent before it, then the end of the
        /// stream, and can still send back.
        case halfClose
        /// `close()` from another green thread wakes a green thread parked in a receive, or in a
        /// send, of that socket with `IOError` `.closed`, as `Socket` does.
        case closeWakesWaiter
        /// After the peer sends and closes, receives return its bytes, then `.completed(0)`, and
        /// keep returning it; the closed socket's own receives throw.
        case endOfStream
        /// An empty send returns `.completed(0)` and sends nothing; an empty receive consumes
        /// nothing and returns 0 when something is waiting, and otherwise waits or returns at once
        /// as `Traits.zeroLengthReceive` says.
        case zeroLength
        /// `close()` while a file object holds a reference leaves the socket working (the peer
        /// sees no end); releasing the last reference closes it for real (descriptor -1, the peer
        /// sees the end of the stream).
        case fileReferences
        /// Bytes sent in random-sized pieces and received into random-sized buffers, concurrently,
        /// arrive exactly once and in order (seeded: the failure names the seed).
        case randomChunking

        /// The check's name, as in the enum.
        public var description: String { rawValue }
    }
}
