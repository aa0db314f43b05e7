import Glibc
import Testing
@testable import GreenIO

/// Starts `greenio serve --port 0` with extra options. Call `terminate()` on the result when done.
func startServer(_ options: [String] = []) throws -> ChildProcess {
    try ChildProcess(["serve", "--port", "0"] + options)
}

extension ChildProcess {
    /// Reads the server's `listening on HOST:PORT` line and returns the port.
    func listeningPort(within limit: Duration = .seconds(10)) async throws -> Int {
        let line = try await readLine(deadline: .after(limit))
        guard line.hasPrefix("listening on "), let colon = line.lastIndex(of: ":"),
              let port = Int(line[line.index(after: colon)...]) else {
            throw ChildProcessError(description: "unexpected first line: \(line)")
        }
        return port
    }
}

/// Receives exactly `count` bytes (fewer only if the stream ends first).
/// - Throws: `IOError` `.timedOut` if they have not all come within `limit`.
func receive(_ socket: Socket, count: Int, within limit: Duration = .seconds(5)) async throws -> [UInt8] {
    let deadline = Deadline.after(limit)
    var received: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 1)
    defer { buffer.deallocate() }
    while received.count < count {
        let room = UnsafeMutableRawBufferPointer(rebasing: buffer[..<min(buffer.count, count - received.count)])
        guard case .completed(let n) = try await socket.receive(into: room, deadline: deadline), n > 0 else { break }
        received += room[..<n]
    }
    return received
}

/// Receives everything until the peer ends the stream.
/// - Throws: `IOError` `.timedOut` if the stream has not ended within `limit`.
func receiveToEnd(_ socket: Socket, within limit: Duration = .seconds(5)) async throws -> [UInt8] {
    try await receive(socket, count: .max, within: limit)
}

/// Connects a GreenIO socket to the local server on `port`.
func connectToServer(port: Int, host: String = "127.0.0.1") async throws -> Socket {
    try await Socket.connect(host: host, port: port, timeout: .timeout(.seconds(5)))
}

/// Seconds elapsed since `start`.
func seconds(since start: Deadline) -> Double {
    Double(Deadline.now.nanoseconds - start.nanoseconds) / 1e9
}

/// The text of some bytes, for readable expectation failures.
func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// A local TCP port that nothing listens on (bound once, then closed).
func closedPort() throws -> Int {
    let (port, descriptor) = try refusingPort()
    close(descriptor)
    return port
}

/// A loopback port that refuses connections for as long as `descriptor` stays open: a socket bound
/// to it but not listening, so no other test can take the port meanwhile (after a close it may be
/// reused). Close the descriptor when done.
func refusingPort() throws -> (port: Int, descriptor: Int32) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw IOError.system(.current) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    guard bound else {
        let error = IOError.system(.current)
        close(fd)
        throw error
    }
    return (Int(UInt16(bigEndian: address.sin_port)), fd)
}
