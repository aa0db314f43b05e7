// The epoll poller (Linux)
// ========================
//
// One epoll instance per hub and an eventfd to wake it. Descriptors are registered edge-triggered
// for input, output and the peer's half-close (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`); epoll
// adds `EPOLLERR` and `EPOLLHUP` on its own. An event's readiness is its raw event bits: readable
// is any of `EPOLLIN`, `EPOLLERR`, `EPOLLHUP`, `EPOLLRDHUP`; writable any of `EPOLLOUT` and the same
// three; end-or-error any of those three alone. So a hang-up, an error or the peer's FIN wakes the
// waiters of both directions, and the hub remembers that the descriptor will report no further edge
// for it (`FDRegistration.sawEndOrError`).
//
// `struct epoll_event` is packed on x86-64, so the event array is the C shim's
// (`cgreenio_events_alloc`) and each event's tag and bits are read through it. The eventfd is
// registered with the tag `UInt64.max`, which no hub tag can equal (a hub tag's low half is a
// descriptor number, at most `Int32.max`); `wait` drains it and does not report it.

#if os(Linux)
import CGreenIO
import Glibc

/// The hub's poller on Linux: epoll, with an eventfd for wake-ups from other threads (see the
/// notes at the top of this file and of `Poller.swift`).
final class EpollPoller: ReadinessPoller, @unchecked Sendable {
    /// One event's bits, as epoll reported them.
    struct Readiness: PollerReadiness {
        /// The `EPOLL*` bits.
        let rawValue: UInt32

        @inline(__always) var isReadable: Bool {
            rawValue & (CGREENIO_EPOLLIN | CGREENIO_EPOLLERR | CGREENIO_EPOLLHUP | CGREENIO_EPOLLRDHUP) != 0
        }

        @inline(__always) var isWritable: Bool {
            rawValue & (CGREENIO_EPOLLOUT | CGREENIO_EPOLLERR | CGREENIO_EPOLLHUP | CGREENIO_EPOLLRDHUP) != 0
        }

        @inline(__always) var isEndOrError: Bool {
            rawValue & (CGREENIO_EPOLLERR | CGREENIO_EPOLLHUP | CGREENIO_EPOLLRDHUP) != 0
        }
    }

    /// Edge-triggered, both directions, the peer's hang-up included.
    @inline(__always) static var registrationMask: UInt32 {
        CGREENIO_EPOLLIN | CGREENIO_EPOLLOUT | CGREENIO_EPOLLRDHUP | CGREENIO_EPOLLET
    }

    /// The tag of the wake-up eventfd's events.
    @inline(__always) static var wakeTag: UInt64 { .max }

    /// The epoll instance.
    private let epollFD: Int32
    /// Written by `wake()`, drained by `wait`.
    private let wakeUp: EventFD
    /// The array `epoll_wait` fills: `capacity` events (touched by the waiting thread only).
    private let events: OpaquePointer
    /// The most events one `wait` takes; more stay queued in the kernel for the next.
    let capacity: Int32

    /// Creates the epoll instance and the wake-up eventfd, and registers the eventfd. The
    /// corresponding C functions are `epoll_create1(2)` with `EPOLL_CLOEXEC`, `eventfd(2)` and
    /// `epoll_ctl(2)`.
    /// - Parameter capacity: the most events one `wait` hands back.
    /// - Throws: `IOError` `.system` when either cannot be created (`EMFILE`, `ENOMEM`, …).
    init(capacity: Int32 = 256) throws {
        let epfd = try valueOrErrno(retryOnInterrupt: false) { cgreenio_epoll_create() }.orThrow()
        let wakeUp: EventFD
        do {
            wakeUp = try EventFD()
        } catch {
            SystemCall.close(epfd)
            throw error
        }
        guard let events = cgreenio_events_alloc(capacity) else {
            SystemCall.close(epfd)
            wakeUp.close()
            throw IOError.system(Errno(rawValue: ENOMEM))
        }
        let added = nothingOrErrno(retryOnInterrupt: false) {
            cgreenio_epoll_add(epfd, wakeUp.fileDescriptor, CGREENIO_EPOLLIN | CGREENIO_EPOLLET, EpollPoller.wakeTag)
        }
        if case .failure(let errno) = added {
            SystemCall.close(epfd)
            wakeUp.close()
            cgreenio_events_free(events)
            throw IOError.system(errno)
        }
        epollFD = epfd
        self.wakeUp = wakeUp
        self.events = events
        self.capacity = capacity
    }

    deinit {
        SystemCall.close(epollFD)
        wakeUp.close()
        cgreenio_events_free(events)
    }

    /// Registers `fd` (see `ReadinessPoller.register`). When epoll still holds the number — a
    /// descriptor closed behind the hub's back whose open file lives on in a duplicate — the entry
    /// is re-pointed at `tag` instead; if that fails too, the error is the first call's (`EEXIST`).
    /// The corresponding C function is `epoll_ctl(2)` with `EPOLL_CTL_ADD` (then `EPOLL_CTL_MOD`).
    func register(_ fd: Int32, tag: UInt64) -> Result<Void, Errno> {
        assert(tag != EpollPoller.wakeTag, "the wake-up's tag")
        let added = nothingOrErrno(retryOnInterrupt: false) {
            cgreenio_epoll_add(epollFD, fd, EpollPoller.registrationMask, tag)
        }
        guard case .failure(let errno) = added else { return added }
        guard errno == Errno(rawValue: EEXIST), case .success = modify(fd, tag: tag) else { return added }
        return .success(())
    }

    /// Re-registers `fd` with `tag` (see `ReadinessPoller.modify`). The corresponding C function is
    /// `epoll_ctl(2)` with `EPOLL_CTL_MOD`.
    func modify(_ fd: Int32, tag: UInt64) -> Result<Void, Errno> {
        nothingOrErrno(retryOnInterrupt: false) { cgreenio_epoll_mod(epollFD, fd, EpollPoller.registrationMask, tag) }
    }

    /// Removes `fd` from the epoll set, ignoring failure: a descriptor already closed left the set
    /// with its last duplicate. The corresponding C function is `epoll_ctl(2)` with `EPOLL_CTL_DEL`.
    func deregister(_ fd: Int32) {
        _ = nothingOrErrno(retryOnInterrupt: false) { cgreenio_epoll_del(epollFD, fd) }
    }

    /// Waits and reports each ready descriptor (see `ReadinessPoller.wait`). An interrupted wait
    /// (`EINTR`: a signal handler ran, or the process was stopped and continued) is not made again:
    /// it returns -1 and the hub goes round its loop, firing due timers, before it waits again.
    /// The corresponding C function is `epoll_wait(2)`.
    @inline(__always)
    func wait(timeoutMilliseconds: Int32, _ body: (_ tag: UInt64, _ readiness: Readiness) -> Void) -> Int32 {
        let waited = valueOrErrno(retryOnInterrupt: false) {
            cgreenio_epoll_wait(epollFD, events, capacity, timeoutMilliseconds)
        }
        guard case .success(let count) = waited else { return -1 }
        for index in 0..<count {
            let tag = cgreenio_event_data(events, index)
            if tag == EpollPoller.wakeTag {
                wakeUp.consume()
                continue
            }
            body(tag, Readiness(rawValue: cgreenio_event_mask(events, index)))
        }
        return count
    }

    /// Wakes the current or next `wait` (the eventfd turns readable). Callable from any thread.
    /// The corresponding C function is `write(2)` of an 8-byte 1 to the eventfd.
    @inline(__always)
    func wake() {
        wakeUp.signal()
    }
}
#endif
