import CGreenIO
import Synchronization

extension Mutex where Value: ~Copyable {
    /// `withLock`, with the lock's ordering told to ThreadSanitizer.
    ///
    /// `Mutex` locks with futex system calls inside the uninstrumented Synchronization library, so
    /// TSan cannot see that two `withLock` bodies on different threads are ordered, and reports the
    /// protected value's accesses as races. Here each body acquires and releases a TSan sync object
    /// at `owner`'s address (the object holding the mutex, or a `TracedLockTag` for a global one:
    /// always the same object for the same mutex). The address must not come from the protected
    /// value itself: taking it would be an access TSan sees before the acquire. In builds without
    /// TSan this is two calls to empty C functions. Use it for every lock taken from several threads.
    @inline(__always)
    package borrowing func withLockTraced<Result>(by owner: AnyObject,
                                                  _ body: (inout sending Value) -> sending Result) -> sending Result {
        let tag = UnsafeRawPointer(Unmanaged.passUnretained(owner).toOpaque())
        return withLock { value in
            cgreenio_tsan_acquire(tag)
            defer { cgreenio_tsan_release(tag) }
            return body(&value)
        }
    }
}

/// A fixed object whose address names a global mutex for `withLockTraced(by:_:)`.
package final class TracedLockTag: Sendable {
    package init() {}
}
