import CGreenIO
import Synchronization

extension Mutex where Value: ~Copyable {
    /// `withLock`, with the lock's ordering told to ThreadSanitizer.
    ///
    /// `Mutex` locks with futex system calls inside the uninstrumented Synchronization library, so
    /// TSan cannot see that two `withLock` bodies on different threads are ordered, and reports the
    /// protected value's accesses as races. Here each body acquires and releases a TSan sync object
    /// at the value's address. In builds without TSan that is two calls to empty C functions.
    /// Use it for every lock that is taken from more than one thread.
    @inline(__always)
    package borrowing func withLockTraced<Result>(_ body: (inout sending Value) -> sending Result) -> sending Result {
        withLock { value in
            let tag = withUnsafeMutablePointer(to: &value) { UnsafeRawPointer($0) }
            cgreenio_tsan_acquire(tag)
            defer { cgreenio_tsan_release(tag) }
            return body(&value)
        }
    }
}
