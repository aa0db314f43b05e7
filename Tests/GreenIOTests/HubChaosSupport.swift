import Glibc
import Synchronization
import Testing
@testable import GreenIO

// The pieces of the hub chaos test (HubChaosTests): connections with a layer per direction, the
// byte pattern that lets a reader check what arrives, the counts, and the classification of errors.
// Names carry a `chaos` prefix so that they cannot clash with helpers of other test files.

/// What the chaos run on one hub did. Counted on that hub's thread, summed by the test.
struct ChaosCounts: Sendable, CustomStringConvertible {
    var connections = 0
    var tlsConnections = 0
    /// Reads, writes and flushes the workers started.
    var operations = 0
    var bytesWritten = 0
    var bytesRead = 0
    /// Operations that ended with `.timedOut` (a socket timeout or the operation's deadline).
    var timeouts = 0
    /// `Task.cancel()` calls: by chaos green threads of the same hub, of another hub (another
    /// thread), and by the test's own task (not a hub thread).
    var cancelsSameHub = 0
    var cancelsOtherHub = 0
    var cancelsOffHub = 0
    /// Operations (or yields between them) that ended with `CancellationError`.
    var cancellations = 0
    /// Chaos closes of sockets and of file objects, shutdowns, timeout changes.
    var closes = 0
    var shutdowns = 0
    var timeoutChanges = 0
    /// Operations that ended because their socket or file object was closed.
    var closedErrors = 0
    /// Operations that saw the peer go (end of stream, EPIPE, ECONNRESET, TLS EOF or TLS error).
    var peerGone = 0
    /// From the hub's debug counters: waits parked and resumed, and resume calls that found their
    /// waiter already resumed (cancellations racing wake-ups).
    var waitsParked = 0
    var waitsResumed = 0
    var lateResumes = 0

    static func + (a: ChaosCounts, b: ChaosCounts) -> ChaosCounts {
        var sum = a
        sum.connections += b.connections
        sum.tlsConnections += b.tlsConnections
        sum.operations += b.operations
        sum.bytesWritten += b.bytesWritten
        sum.bytesRead += b.bytesRead
        sum.timeouts += b.timeouts
        sum.cancelsSameHub += b.cancelsSameHub
        sum.cancelsOtherHub += b.cancelsOtherHub
        sum.cancelsOffHub += b.cancelsOffHub
        sum.cancellations += b.cancellations
        sum.closes += b.closes
        sum.shutdowns += b.shutdowns
        sum.timeoutChanges += b.timeoutChanges
        sum.closedErrors += b.closedErrors
        sum.peerGone += b.peerGone
        sum.waitsParked += b.waitsParked
        sum.waitsResumed += b.waitsResumed
        sum.lateResumes += b.lateResumes
        return sum
    }

    var description: String {
        "\(connections) connections (\(tlsConnections) TLS), \(operations) operations "
            + "(\(bytesWritten) bytes written, \(bytesRead) read), \(timeouts) timeouts, "
            + "cancel requests \(cancelsSameHub) same hub / \(cancelsOtherHub) other hub / \(cancelsOffHub) off hub, "
            + "\(cancellations) cancellations seen, \(closes) chaos closes, \(shutdowns) shutdowns, "
            + "\(timeoutChanges) timeout changes, \(closedErrors) closed errors, \(peerGone) peer-gone ends, "
            + "\(waitsParked) waits parked / \(waitsResumed) resumed / \(lateResumes) late resume calls"
    }
}

/// How an operation ended with an error, when the error is one chaos may legitimately cause.
enum ChaosEnding {
    case timedOut
    case cancelled
    /// Its own socket or file object was closed (hub "closed", EBADF, "… closed file").
    case closed
    /// The other side went: EPIPE, ECONNRESET, ENOTCONN, TLS EOF, or a TLS error (a record cut off
    /// by a close in the middle of a write).
    case peerGone
}

/// The expected ending for `error`, or nil if chaos cannot explain it (the test then fails).
func chaosEnding(of error: any Error, tls: Bool) -> ChaosEnding? {
    if error is CancellationError { return .cancelled }
    guard let error = error as? IOError else { return nil }
    switch error.kind {
    case .timedOut: return .timedOut
    case .closed: return .closed
    case .system:
        switch error.errno?.rawValue {
        case EBADF: return .closed
        case EPIPE, ECONNRESET, ENOTCONN: return .peerGone
        default: return nil
        }
    case .invalidArgument:
        // "I/O operation on closed file.", "read of closed file", "Write on closed or unwrapped SSL
        // socket.", …
        return error.message.contains("closed") ? .closed : nil
    case .tlsEOF: return tls ? .peerGone : nil
    case .tls: return tls ? .peerGone : nil
    default: return nil
    }
}

/// Byte `index` of every chaos stream: a cycle of 251 (a prime, so it never lines up with buffer
/// sizes), which includes "\n" for line reads.
@inline(__always) func chaosPatternByte(_ index: Int) -> UInt8 { UInt8(index % 251) }

/// The largest write a chaos worker makes.
let chaosMaximumWrite = 65536

/// The pattern from position 0 to one cycle past the largest write, so that any piece of the
/// stream is one contiguous slice of it (copied and compared with memcpy/memcmp: byte loops are
/// slow in debug builds, and the hubs must stay responsive for the chaos to be timely).
let chaosPatternTable: [UInt8] = (0..<(251 + chaosMaximumWrite)).map(chaosPatternByte)

/// Fills `buffer` with the pattern from stream position `position`.
func chaosPattern(from position: Int, into buffer: UnsafeMutableRawBufferPointer) {
    chaosPatternTable.withUnsafeBytes { table in
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: table[(position % 251)...].prefix(buffer.count)))
    }
}

/// Whether `bytes` are the pattern from stream position `position` (at most `chaosMaximumWrite`
/// bytes at a time; longer inputs are checked in pieces).
func chaosMatchesPattern(_ bytes: UnsafeRawBufferPointer, at position: Int) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let n = Swift.min(chaosMaximumWrite, bytes.count - offset)
        let start = (position + offset) % 251
        let same = chaosPatternTable.withUnsafeBytes { table in
            guard let expected = table.baseAddress, let got = bytes.baseAddress else { return false }
            return memcmp(expected + start, got + offset, n) == 0
        }
        if !same { return false }
        offset += n
    }
    return true
}

/// One direction of a connection: what the writer has handed over and what the reader must see
/// next. Hub thread only.
final class ChaosStream: @unchecked Sendable {
    /// Bytes the writer's layer accepted: the next write starts at this pattern position.
    var written = 0
    /// Bytes the reader received and checked.
    var received = 0
    /// Set when the writer cannot know how much of a write was accepted (the next write would start
    /// at a wrong position): it stops writing on this stream, so that everything the reader gets is
    /// still the pattern.
    var writerStopped = false
    /// Why the writer stopped (the operation and its error), for failure messages.
    var stopReason: String?
    /// The size of the write that stopped the writer: up to that many bytes of it may have gone out
    /// uncounted (a buffered write cancelled after sending part of a large write directly).
    var uncertainBytes = 0
    /// The first byte that broke the pattern, as a message.
    var violation: String?

    /// Checks received bytes against the pattern and advances.
    func receive(_ bytes: UnsafeRawBufferPointer) {
        check(bytes, what: "byte")
        received += bytes.count
    }

    /// Checks peeked bytes (not consumed) against the pattern.
    func peeked(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { check($0, what: "peeked byte") }
    }

    private func check(_ bytes: UnsafeRawBufferPointer, what: String) {
        guard violation == nil, !chaosMatchesPattern(bytes, at: received) else { return }
        for (offset, byte) in bytes.enumerated() where byte != chaosPatternByte(received + offset) {
            violation = "\(what) \(received + offset) is \(byte), expected \(chaosPatternByte(received + offset))"
            return
        }
    }
}

/// The layer a worker reads through.
enum ChaosReadLayer {
    case raw
    case socketIO(SocketIO)
    case buffered(BufferedReader)
}

/// The layer a worker writes through.
enum ChaosWriteLayer {
    case raw
    case socketIO(SocketIO)
    case buffered(BufferedWriter)
}

/// One end of a connection, with the file objects its reader and writer use. Hub thread only.
final class ChaosSide: @unchecked Sendable {
    let name: String
    /// The plain socket, or the TLS socket over it.
    let socket: any RawSocket
    /// The descriptor's owner (the TLS socket's plain socket for TLS).
    let plain: Socket
    let tls: TLSSocket?
    var readLayer: ChaosReadLayer = .raw
    var writeLayer: ChaosWriteLayer = .raw

    init(name: String, plain: Socket, tls: TLSSocket?) {
        self.name = name
        self.plain = plain
        self.tls = tls
        socket = tls ?? plain
    }

    func setTimeout(_ mode: TimeoutMode) throws {
        if let tls { try tls.setTimeout(mode) } else { try plain.setTimeout(mode) }
    }

    /// Closes the reading file object (synchronous).
    func closeReadLayer() {
        switch readLayer {
        case .raw: break
        case .socketIO(let io): io.close()
        case .buffered(let reader): reader.close()
        }
    }
}

/// The identity (device, inode) of every socket a chaos run created, so that the test can look
/// for them among the process's open descriptors at the end (numbers are reused; identities of
/// sockets are not).
func chaosIdentity(_ socket: Socket) -> [UInt64]? {
    hubFileIdentity(socket.fileDescriptor)
}

/// The identities of every descriptor open in this process now.
func chaosOpenIdentities() -> Set<[UInt64]> {
    var result: Set<[UInt64]> = []
    guard let directory = opendir("/proc/self/fd") else { return result }
    defer { closedir(directory) }
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if let fd = Int32(name), let identity = hubFileIdentity(fd) { result.insert(identity) }
    }
    return result
}

/// The green threads of every chaos hub, for cancelling them from other threads (the lock is
/// traced, as GreenIO's own, so that ThreadSanitizer sees its ordering).
final class ChaosRegistry: Sendable {
    private let tasks: Mutex<[[Task<Void, any Error>]]>

    init(hubs: Int) { tasks = Mutex(Array(repeating: [], count: hubs)) }

    func add(_ task: Task<Void, any Error>, hub: Int) {
        tasks.withLockTraced(by: self) { $0[hub].append(task) }
    }

    /// A random task of a hub other than `excluded` (nil: any hub), or nil if there is none.
    func randomTask(excluding excluded: Int?, using rng: inout SplitMix64) -> Task<Void, any Error>? {
        tasks.withLockTraced(by: self) { all -> Task<Void, any Error>? in
            let hubs = all.indices.filter { $0 != excluded && !all[$0].isEmpty }
            guard let hub = hubs.randomElement(using: &rng) else { return nil }
            return all[hub].randomElement(using: &rng)
        }
    }
}
