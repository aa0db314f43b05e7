#if os(Linux)
import CGreenIO
import Glibc

/// An eventfd (Linux): a counter in the kernel that any thread can add to, readable while it is not
/// zero, so a thread that waits for descriptors can be woken from another thread. The hub's poller
/// wakes its wait with one; GreenIOServer's `WakeEvent` and GreenIOTesting's scripted sockets park
/// green threads on theirs through the hub.
///
/// A plain value over the descriptor: whoever made it closes it (`close()`), once.
package struct EventFD: Sendable {
    /// The non-blocking, close-on-exec descriptor.
    package let fileDescriptor: Int32

    /// Creates a non-blocking, close-on-exec eventfd with the counter at zero. The corresponding C
    /// function is `eventfd(2)` with `EFD_NONBLOCK | EFD_CLOEXEC`.
    /// - Throws: `IOError` `.system` (`EMFILE`, …).
    package init() throws {
        fileDescriptor = try valueOrErrno(retryOnInterrupt: false) { cgreenio_eventfd() }.orThrow()
    }

    /// An eventfd made elsewhere (by `init()`), not owned by this value.
    package init(wrapping fileDescriptor: Int32) {
        self.fileDescriptor = fileDescriptor
    }

    /// Adds one to the counter: the descriptor turns readable (a new edge for an edge-triggered
    /// waiter). Callable from any thread. The corresponding C function is `write(2)` of an 8-byte 1.
    @inline(__always)
    package func signal() {
        var one: UInt64 = 1
        // Only a counter at its maximum (2^64 - 2 unread signals) refuses: nothing to do then.
        _ = valueOrErrno(retryOnInterrupt: true) { Glibc.write(fileDescriptor, &one, MemoryLayout<UInt64>.size) }
    }

    /// Reads and resets the counter; true when it was not zero (a signal was pending), false when
    /// it would block. The corresponding C function is `read(2)` of 8 bytes.
    @inline(__always)
    @discardableResult
    package func consume() -> Bool {
        var value: UInt64 = 0
        let read = valueOrErrno(retryOnInterrupt: true) { Glibc.read(fileDescriptor, &value, MemoryLayout<UInt64>.size) }
        guard case .success(let count) = read else { return false }
        return count == MemoryLayout<UInt64>.size
    }

    /// Closes the descriptor. The corresponding C function is `close(2)`.
    package func close() {
        SystemCall.close(fileDescriptor)
    }
}
#endif
