import GreenIO

/// One direction of a scripted connection: the bytes in flight from one end to the other, the
/// script's events not yet played, and how the stream ended. Pure state, kept under the
/// connection's lock; the ends decide what to do with the plans it returns.
struct ScriptedPipe {
    /// What a receive (or send) should do now.
    enum Plan {
        /// Move this many bytes (0 for an empty buffer with something waiting, or the end of the
        /// stream).
        case transfer(Int)
        /// Throw this error.
        case fail(IOError)
        /// Nothing can happen now: wait for the given direction (non-blocking: report it).
        /// `until` ends a stall; `spurious` asks for one wait that ends at once.
        case block(Interest, until: Deadline?, spurious: Bool)
    }

    private let chunkSize: Int
    private let window: Int
    let ending: StreamEnding
    /// Receive-side and send-side events not yet played, in the script's order.
    private var receiveCues: [Script.Cue]
    private var sendCues: [Script.Cue]

    /// Bytes sent and not yet received: `queue[head...]`.
    private var queue: [UInt8] = []
    private var head = 0
    /// Offsets of the next byte to receive and to send.
    private(set) var delivered = 0
    private(set) var accepted = 0
    /// Every byte the sender's sends accepted, in order.
    private(set) var record: [UInt8] = []
    /// Set once the sender shut its side or really closed: the end comes after the queue.
    private(set) var senderEnded = false
    /// A reset ending was reported once; it reads as the end of the stream from then on.
    private var resetReported = false
    /// The receiver shut down reading or really closed: sends fail with `EPIPE`.
    private(set) var receiverGone = false

    init(_ script: Script) {
        chunkSize = max(1, script.chunkSize ?? .max)
        window = max(1, script.sendWindow ?? .max)
        ending = script.ending
        receiveCues = script.cues.filter { $0.event.isReceiveSide }
        sendCues = script.cues.filter { !$0.event.isReceiveSide }
    }

    var unreadCount: Int { queue.count - head }
    var hasWindow: Bool { window != .max }

    mutating func endSending() { senderEnded = true }
    mutating func endReceiving() { receiverGone = true }

    // MARK: Receiving

    /// What a receive of `count` bytes does now. For an empty buffer: `.transfer(0)` as soon as a
    /// receive would make progress (bytes, the end, an error or a would-block event waiting), and
    /// no event is played.
    mutating func planReceive(count: Int, now: Deadline) -> Plan {
        while let cue = receiveCues.first, cue.offset <= delivered {
            switch cue.event {
            case .pause(let duration):
                // Reached for the first time: the pause becomes a stall from now.
                receiveCues[0].event = .stall(until: now.advanced(by: duration))
                continue
            case .stall(let until):
                if until > now { return .block(.read, until: until, spurious: false) }
                receiveCues.removeFirst()
                continue
            case .receiveWouldBlock(let interest):
                if count == 0 { return .transfer(0) }
                receiveCues.removeFirst()
                return .block(interest, until: nil, spurious: true)
            case .receiveError(let error):
                if count == 0 { return .transfer(0) }
                receiveCues.removeFirst()
                return .fail(error)
            case .sendWouldBlock, .sendError:
                receiveCues.removeFirst()  // never here: filtered out in init
            }
        }
        if unreadCount > 0 {
            if count == 0 { return .transfer(0) }
            var n = min(count, unreadCount, chunkSize)
            if let next = receiveCues.first { n = min(n, next.offset - delivered) }
            return .transfer(n)
        }
        if receiverGone { return .transfer(0) }  // our own shutdown(.read)
        guard senderEnded else { return .block(.read, until: nil, spurious: false) }
        if count == 0 { return .transfer(0) }
        switch ending {
        case .clean, .closeNotify:
            return .transfer(0)
        case .ragged:
            return .fail(IOError(.tlsEOF, "EOF occurred in violation of protocol"))
        case .reset:
            if resetReported { return .transfer(0) }
            resetReported = true
            return .fail(IOError.system(.connectionReset))
        }
    }

    /// Takes `count` bytes (as planned) into `buffer`.
    mutating func take(_ count: Int, into buffer: UnsafeMutableRawBufferPointer) {
        guard count > 0, let base = buffer.baseAddress else { return }
        queue.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { base.copyMemory(from: source + head, byteCount: count) }
        }
        head += count
        delivered += count
        // Compact once the consumed prefix dominates, so the queue stays linear in what is unread.
        if head == queue.count {
            queue.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 65_536 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    // MARK: Sending

    /// What a send of `count` bytes does now. The sender's own state (closed, shut down) is the
    /// caller's to check first.
    mutating func planSend(count: Int) -> Plan {
        if receiverGone { return .fail(IOError.system(.brokenPipe)) }
        // An empty send moves no byte, so it plays no event (as `Socket`'s, it never would-blocks).
        if count == 0 { return .transfer(0) }
        if let cue = sendCues.first, cue.offset <= accepted {
            sendCues.removeFirst()
            switch cue.event {
            case .sendWouldBlock(let interest): return .block(interest, until: nil, spurious: true)
            case .sendError(let error): return .fail(error)
            default: break  // never here: filtered out in init
            }
        }
        var n = min(count, window - min(window, unreadCount))
        if let next = sendCues.first { n = min(n, max(0, next.offset - accepted)) }
        if n == 0 { return .block(.write, until: nil, spurious: false) }
        return .transfer(n)
    }

    /// Appends `count` bytes (as planned) from `bytes`.
    mutating func put(_ bytes: UnsafeRawBufferPointer, count: Int) {
        guard count > 0 else { return }
        let part = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
        queue.append(contentsOf: part)
        record.append(contentsOf: part)
        accepted += count
    }
}

extension Script.Event {
    /// Whether the event acts on receives (else on sends).
    var isReceiveSide: Bool {
        switch self {
        case .receiveWouldBlock, .stall, .pause, .receiveError: return true
        case .sendWouldBlock, .sendError: return false
        }
    }
}
