import GreenIO

extension RawSocketConformance {
    /// What a transport does where `RawSocket`'s contract lets transports differ, and the kit's
    /// limits.
    public struct Traits: Sendable {
        /// What a receive into an empty buffer does when nothing is waiting.
        public enum ZeroLengthReceive: Sendable {
            /// Waits until the socket is readable, like any receive (`Socket`, `ScriptedSocket`):
            /// times out in timeout mode, reports would-block in non-blocking mode.
            case waitsUntilReadable
            /// Returns `.completed(0)` at once (`TLSSocket`: records say nothing about it).
            case returnsAtOnce
        }

        /// See `ZeroLengthReceive`.
        public var zeroLengthReceive: ZeroLengthReceive
        /// The message of a receive's (and `waitUntilReadable`'s) `.timedOut` error.
        public var readTimeoutMessage: String
        /// The message of a send's `.timedOut` error.
        public var writeTimeoutMessage: String
        /// How many bytes non-blocking sends may take, into a peer that does not read, before one
        /// must report would-block: the transport's buffering must be bounded.
        public var fillLimit: Int
        /// How many bytes the random chunking check sends.
        public var randomChunkingBytes: Int
        /// How long one check may run before it is cancelled and failed (real time).
        public var checkTimeLimit: Duration
        /// The clock each check's hub runs on.
        public var clock: Clock

        /// The clock of the checks' hubs.
        public enum Clock: Sendable {
            /// The system's clock: the checks' timeouts take real time (a few seconds per check).
            case real
            /// Virtual time (`VirtualTime`) with this autojump threshold: timeouts take no real
            /// time and are measured exactly. Right for transports whose readiness comes from
            /// descriptors of the check's hub (sockets, socket pairs, TLS over them, the scripted
            /// socket); not for one that waits on another thread or process.
            case virtual(autojumpThreshold: Duration)
        }

        /// The traits of `Socket` and `ScriptedSocket`; the defaults of every parameter.
        public init(zeroLengthReceive: ZeroLengthReceive = .waitsUntilReadable,
                    readTimeoutMessage: String = "timed out", writeTimeoutMessage: String = "timed out",
                    fillLimit: Int = 64 << 20, randomChunkingBytes: Int = 256 << 10,
                    checkTimeLimit: Duration = .seconds(30), clock: Clock = .real) {
            self.zeroLengthReceive = zeroLengthReceive
            self.readTimeoutMessage = readTimeoutMessage
            self.writeTimeoutMessage = writeTimeoutMessage
            self.fillLimit = fillLimit
            self.randomChunkingBytes = randomChunkingBytes
            self.checkTimeLimit = checkTimeLimit
            self.clock = clock
        }

        /// `TLSSocket`'s traits: empty receives return at once, and timeouts say which operation
        /// timed out ("The read operation timed out").
        public static func tls(clock: Clock = .real) -> Traits {
            Traits(zeroLengthReceive: .returnsAtOnce, readTimeoutMessage: "The read operation timed out",
                   writeTimeoutMessage: "The write operation timed out", clock: clock)
        }
    }
}
