import CGreenIO
import Glibc

// System calls
// ============
//
// Every system call of the sockets (`Socket`, its connect/accept/options extensions, STARTTLS's
// probe), of the TLS socket's BIO and of the hub's poller is made through `valueOrErrno`, the one
// place that tells a failure from a result, reads `errno` (once, right after the call, before
// anything else can overwrite it) and retries a call interrupted by a signal (`EINTR`) when the
// caller asks. Call sites only decide what a failure means — would-block (`EAGAIN`) waits on the
// hub or is reported, anything else is an error — instead of each carrying its own retry loop.
//
// The helper is generic and `@inline(__always)`, and so are the thin wrappers in `SystemCall`:
// after inlining, a `recv` through them is the `recv`, a comparison and, on failure only, the
// `errno` load — no closure context, allocation or existential. The wrappers take raw
// descriptors and pointers, as the C functions do, and return `Result<_, Errno>`; a failure
// becomes an `IOError` at the call site (`orThrow()`, or a `switch` where would-block is not an
// error).

/// Runs `call`, a system call that returns a negative value (-1) on failure and sets `errno`, and
/// returns its value or the error number, read once right after the call.
///
/// With `retryOnInterrupt`, a call that a signal handler interrupted (`EINTR`) is made again, as
/// swift-system's `valueOrErrno(retryOnInterrupt:_:)` does; without it, `EINTR` is returned like
/// any other error. Calls that never block (on a non-blocking descriptor, or by their nature) are
/// not interrupted in practice; `close` must never be retried (Linux frees the descriptor even
/// when it reports `EINTR`, and its number may already name another).
///
/// `package`: GreenIOServer's signal wait and the `greenio` tool's standard streams use it too.
@inlinable @inline(__always)
package func valueOrErrno<Value: FixedWidthInteger>(retryOnInterrupt: Bool, _ call: () -> Value) -> Result<Value, Errno> {
    while true {
        let value = call()
        if value >= 0 { return .success(value) }
        let error = Errno.current
        if !retryOnInterrupt || error != .interrupted { return .failure(error) }
    }
}

/// `valueOrErrno(retryOnInterrupt:_:)` for a call whose successful result carries nothing (0).
@inline(__always)
func nothingOrErrno<Value: FixedWidthInteger>(retryOnInterrupt: Bool, _ call: () -> Value) -> Result<Void, Errno> {
    switch valueOrErrno(retryOnInterrupt: retryOnInterrupt, call) {
    case .success: return .success(())
    case .failure(let error): return .failure(error)
    }
}

extension Result where Failure == Errno {
    /// The value, or the error number as an `IOError` (`IOError.system`: `.wouldBlock` for
    /// `EAGAIN`, `EINPROGRESS` and `EALREADY`, `.system` for the rest).
    /// - Throws: that `IOError`.
    @inline(__always)
    func orThrow() throws -> Success {
        switch self {
        case .success(let value): return value
        case .failure(let error): throw IOError.system(error)
        }
    }
}

/// The system calls of the sockets, the TLS socket's BIO and STARTTLS, each through
/// `valueOrErrno(retryOnInterrupt:_:)`. Descriptors are raw numbers; nothing here waits.
enum SystemCall {
    /// Creates a socket. The corresponding C function is `socket(2)`.
    @inline(__always)
    static func socket(family: Int32, type: Int32, protocol: Int32 = 0) -> Result<Int32, Errno> {
        valueOrErrno(retryOnInterrupt: false) { Glibc.socket(family, type, `protocol`) }
    }

    /// Creates a connected pair of sockets into `descriptors` (two elements). The corresponding C
    /// function is `socketpair(2)`.
    @inline(__always)
    static func socketPair(family: Int32, type: Int32, protocol: Int32 = 0,
                           _ descriptors: UnsafeMutablePointer<Int32>) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.socketpair(family, type, `protocol`, descriptors) }
    }

    /// Receives at most `count` bytes into `buffer`: the count, 0 at the end of the stream. The
    /// corresponding C function is `recv(2)`.
    @inline(__always)
    static func receive(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int, flags: Int32 = 0,
                        retryOnInterrupt: Bool = true) -> Result<Int, Errno> {
        valueOrErrno(retryOnInterrupt: retryOnInterrupt) { Glibc.recv(fd, buffer, count, flags) }
    }

    /// Sends at most `count` bytes from `buffer` and returns how many the kernel took, with
    /// `MSG_NOSIGNAL`: a vanished peer is an `EPIPE` error, never a SIGPIPE. The corresponding C
    /// function is `send(2)`.
    @inline(__always)
    static func send(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int,
                     retryOnInterrupt: Bool = true) -> Result<Int, Errno> {
        valueOrErrno(retryOnInterrupt: retryOnInterrupt) { Glibc.send(fd, buffer, count, Int32(MSG_NOSIGNAL)) }
    }

    /// Accepts a connection as a non-blocking, close-on-exec descriptor, its peer's address in
    /// `address` (`length` bytes in and out). The corresponding C function is `accept4(2)` with
    /// `SOCK_NONBLOCK | SOCK_CLOEXEC`.
    @inline(__always)
    static func accept(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                       _ length: UnsafeMutablePointer<socklen_t>) -> Result<Int32, Errno> {
        valueOrErrno(retryOnInterrupt: true) { cgreenio_accept(fd, address, length) }
    }

    /// Connects to `address`. The corresponding C function is `connect(2)`.
    @inline(__always)
    static func connect(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: true) { Glibc.connect(fd, address, length) }
    }

    /// Binds to `address`. The corresponding C function is `bind(2)`.
    @inline(__always)
    static func bind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.bind(fd, address, length) }
    }

    /// Starts listening. The corresponding C function is `listen(2)`.
    @inline(__always)
    static func listen(_ fd: Int32, backlog: Int32) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.listen(fd, backlog) }
    }

    /// Shuts down one or both directions (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`). The corresponding C
    /// function is `shutdown(2)`.
    @inline(__always)
    static func shutdown(_ fd: Int32, _ how: Int32) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.shutdown(fd, how) }
    }

    /// Closes a descriptor, never retried (see `valueOrErrno`). The corresponding C function is
    /// `close(2)`.
    @inline(__always)
    @discardableResult
    static func close(_ fd: Int32) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.close(fd) }
    }

    /// The local address into `address` (`length` bytes in and out). The corresponding C function
    /// is `getsockname(2)`.
    @inline(__always)
    static func localName(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                          _ length: UnsafeMutablePointer<socklen_t>) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.getsockname(fd, address, length) }
    }

    /// The peer's address into `address` (`length` bytes in and out). The corresponding C function
    /// is `getpeername(2)`.
    @inline(__always)
    static func peerName(_ fd: Int32, _ address: UnsafeMutablePointer<sockaddr>,
                         _ length: UnsafeMutablePointer<socklen_t>) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.getpeername(fd, address, length) }
    }

    /// Sets an option from `length` bytes at `value`. The corresponding C function is
    /// `setsockopt(2)`.
    @inline(__always)
    static func setOption(_ fd: Int32, level: Int32, name: Int32, _ value: UnsafeRawPointer,
                          _ length: socklen_t) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.setsockopt(fd, level, name, value, length) }
    }

    /// Reads an option into `value` (`length` bytes in and out). The corresponding C function is
    /// `getsockopt(2)`.
    @inline(__always)
    static func getOption(_ fd: Int32, level: Int32, name: Int32, _ value: UnsafeMutableRawPointer,
                          _ length: UnsafeMutablePointer<socklen_t>) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.getsockopt(fd, level, name, value, length) }
    }

    /// The descriptor's file status flags (`O_NONBLOCK`, …). The corresponding C function is
    /// `fcntl(2)` with `F_GETFL`.
    @inline(__always)
    static func statusFlags(_ fd: Int32) -> Result<Int32, Errno> {
        valueOrErrno(retryOnInterrupt: false) { Glibc.fcntl(fd, F_GETFL) }
    }

    /// Sets the descriptor's file status flags. The corresponding C function is `fcntl(2)` with
    /// `F_SETFL`.
    @inline(__always)
    static func setStatusFlags(_ fd: Int32, _ flags: Int32) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { Glibc.fcntl(fd, F_SETFL, flags) }
    }
}
