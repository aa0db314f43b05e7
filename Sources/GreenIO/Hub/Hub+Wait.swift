import CGreenIO
import Glibc

extension Hub {
    // MARK: Registration

    /// Registers a file descriptor with this hub's poller (edge-triggered, both directions, peer
    /// hang-up included) and returns its registration. Hub thread only.
    ///
    /// A descriptor number that is still registered from an earlier, already closed descriptor is
    /// taken over: the old registration's waiters get a "closed" error and its queued events are
    /// ignored. Call this whenever a new descriptor appears (socket, accept, socketpair).
    ///
    /// - Throws: `IOError` if `epoll_ctl` fails (for example `EPERM` for a regular file) or the
    ///   call is not on this hub's thread.
    public func register(_ fd: Int32) throws -> FDRegistration {
        guard isOnHubThread else {
            throw IOError(.notOnHub, "a descriptor can only be registered on its hub's thread")
        }
        guard fd >= 0 else { throw IOError(.system, "Invalid argument", errno: .invalidArgument) }
        let index = Int(fd)
        if index >= registrations.count {
            registrations.append(contentsOf: repeatElement(nil, count: max(index + 1 - registrations.count, 64)))
        }
        if let stale = registrations[index] {
            // The number names a new descriptor now: closing the old one must not close it.
            stale.descriptorReleased = true
            deregisterOnHubThread(stale, closeDescriptor: false)
        }
        let generation = nextGeneration
        nextGeneration = nextGeneration == UInt32.max ? 1 : nextGeneration + 1
        let registration = FDRegistration(fileDescriptor: fd, generation: generation, hub: self)
        // The poller re-points a number epoll still holds from a descriptor closed behind our back
        // (its open file living on in a duplicate) at the new registration.
        try poller.register(fd, tag: Hub.tag(fd, generation: generation)).orThrow()
        registrations[index] = registration
        return registration
    }

    /// The registration of `fd` on this hub, registering it if needed. Hub thread only.
    ///
    /// A descriptor number is only a number: if the descriptor it named was closed without the hub
    /// (a plain `close`) and the number was handed out again, the old registration is stale. This
    /// call checks with epoll that the number is still registered and, if it is not, registers the
    /// new descriptor (the old registration's waiters get a "closed" error). Sockets keep their
    /// registration and do not pay for this check.
    ///
    /// - Throws: `IOError` as `register(_:)`.
    public func registration(for fd: Int32) throws -> FDRegistration {
        if fd >= 0, Int(fd) < registrations.count, let existing = registrations[Int(fd)],
           case .success = poller.modify(fd, tag: Hub.tag(fd, generation: existing.generation)) {
            return existing
        }
        return try register(fd)
    }

    /// A registration's poller tag: its generation above its descriptor number, so that an event
    /// queued for an earlier descriptor of the same number is recognised and ignored (`poll`).
    @inline(__always) static func tag(_ fd: Int32, generation: UInt32) -> UInt64 {
        UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
    }

    /// Removes a registration: every waiter on it is resumed with a "closed" error first, then the
    /// descriptor leaves the poller, and then — if `closeDescriptor` — it is closed. Callable from
    /// any thread (from other threads the work is done by the hub shortly after). Idempotent: the
    /// descriptor is closed at most once, and never once `register(_:)` gave its number to a new
    /// descriptor (EVT-60).
    public func deregister(_ registration: FDRegistration, closeDescriptor: Bool) {
        if isOnHubThread || !loopRunning.load(ordering: .acquiring) {
            // With no loop running nothing else touches the hub's tables (and nobody would drain
            // the inbox), so the work is done here.
            deregisterOnHubThread(registration, closeDescriptor: closeDescriptor)
        } else {
            post(.deregister(registration, closeDescriptor: closeDescriptor))
        }
    }

    func deregisterOnHubThread(_ registration: FDRegistration, closeDescriptor: Bool) {
        let fd = registration.fileDescriptor
        if !registration.isClosed {
            registration.isClosed = true
            registration.writableHandler = nil
            let closed = IOError.closedWhileWaiting
            if let w = registration.readers.primary { resume(w, throwing: closed) }
            if let w = registration.readers.secondary { resume(w, throwing: closed) }
            if let w = registration.writers.primary { resume(w, throwing: closed) }
            if let w = registration.writers.secondary { resume(w, throwing: closed) }
            if Int(fd) < registrations.count, registrations[Int(fd)] === registration {
                registrations[Int(fd)] = nil
                poller.deregister(fd)
            }
        }
        if closeDescriptor && !registration.descriptorReleased {
            registration.descriptorReleased = true
            SystemCall.close(fd)
        }
    }

    /// Called once the loop has ended for good (after `run`'s body and its green threads, or when a
    /// `startThread` thread leaves its loop): applies what is still in the inbox, then drops every
    /// registration left, so that registrations and hub no longer keep each other alive (a
    /// registration holds its hub strongly, and the table holds the registration). Each dropped
    /// registration counts as closed through the hub — a later wait fails with "closed" — but its
    /// descriptor stays open for its owner: a socket still closes it on `close()`, and a raw
    /// descriptor passed to `wait(for:on:)` was never the hub's to close. Runs on the hub thread
    /// while `loopRunning` is still set (see `runLoop(retiring:until:)`).
    func retire() {
        if inboxNonEmpty.load(ordering: .acquiring) { drainInbox() }
        idleReleases.removeAll()
        for case let registration? in registrations {
            deregisterOnHubThread(registration, closeDescriptor: false)
        }
    }

    // MARK: Waiting

    /// Parks the calling green thread until `fd` is ready in the given direction.
    ///
    /// Call it only after an operation on `fd` reported "would block", then retry the operation:
    /// a wake-up means "try again", not "data is there" (it can be spurious).
    ///
    /// - Parameters:
    ///   - interest: `.read` or `.write`.
    ///   - fd: the descriptor; registered with this hub on first use.
    ///   - deadline: when to give up; `.distantFuture` waits forever.
    ///   - slot: `.primary` unless the socket type allows a second waiter (see `WaitSlot`).
    /// - Throws: `IOError` `.timedOut` ("timed out") when the deadline passes; `CancellationError`
    ///   when the task is cancelled; `IOError` `.closed` when the descriptor is closed through the
    ///   hub; `IOError` `.busy` at once when another green thread already waits in that slot;
    ///   `IOError` `.notOnHub` when not called on this hub's thread.
    public func wait(for interest: Interest, on fd: Int32, deadline: Deadline = .distantFuture,
                     slot: WaitSlot = .primary) async throws {
        guard isOnHubThread else { throw IOError(.notOnHub, "Hub.wait must be called on the hub's thread") }
        try await wait(for: interest, on: registration(for: fd), deadline: deadline, slot: slot)
    }

    /// Parks the calling green thread until the registered descriptor is ready in the given
    /// direction. Same contract as `wait(for:on:deadline:slot:)` with a descriptor number.
    public func wait(for interest: Interest, on registration: FDRegistration, deadline: Deadline = .distantFuture,
                     slot: WaitSlot = .primary) async throws {
        guard isOnHubThread, registration.hub === self else {
            throw IOError(.notOnHub, "a descriptor can only be waited on from its hub's thread")
        }
        guard !registration.isClosed else { throw IOError.closedWhileWaiting }
        // Occupancy first: a second waiter fails at once, whatever the readiness.
        let occupied: Bool
        switch (interest, slot) {
        case (.read, .primary): occupied = registration.readers.primary != nil
        case (.read, .secondary): occupied = registration.readers.secondary != nil
        case (.write, .primary): occupied = registration.writers.primary != nil
        case (.write, .secondary): occupied = registration.writers.secondary != nil
        }
        if occupied {
            throw IOError(.busy, "Second simultaneous \(interest) on fileno \(registration.fileDescriptor): "
                + "another green thread already waits on this socket", errno: Errno(rawValue: EBUSY))
        }
        if interest == .read, registration.readReady {
            registration.readReady = false
            return
        }
        if interest == .write, registration.writeReady {
            registration.writeReady = false
            return
        }
        if deadline.nanoseconds <= cgreenio_monotonic_ns() { throw IOError.timedOut() }
        try await park(.io, until: deadline.nanoseconds, on: registration, for: interest, slot: slot)
    }

    /// Suspends the calling green thread for `duration`.
    /// - Throws: `CancellationError` if the task is cancelled; `IOError` `.notOnHub` off a hub.
    public static func sleep(for duration: Duration) async throws {
        try await sleep(until: .after(duration))
    }

    /// Suspends the calling green thread until `deadline`.
    /// - Throws: `CancellationError` if the task is cancelled; `IOError` `.notOnHub` off a hub.
    public static func sleep(until deadline: Deadline) async throws {
        let hub = try requireCurrent()
        try await hub.park(.sleep, until: deadline.nanoseconds, on: nil, for: .read, slot: .primary)
    }

    /// Gives other ready green threads a turn, then continues.
    public static func yield() async throws {
        try await sleep(until: Deadline(nanoseconds: 0))
    }

    /// Parks the calling task in a waiter (slot, timer, green thread) until `resume` is called for it.
    private func park(_ kind: Waiter.Kind, until deadline: UInt64, on registration: FDRegistration?,
                      for interest: Interest, slot: WaitSlot) async throws {
        if let greenThread = greenThreads.lookup(Hub.currentTaskKey()) {
            // `resume` drops every other reference before resuming, so the waiter can be reused.
            let waiter = greenThread.spareWaiter ?? Waiter(kind: kind)
            greenThread.spareWaiter = nil
            defer { greenThread.spareWaiter = waiter }
            waiter.kind = kind
            waiter.deadline = deadline
            waiter.registration = registration
            waiter.interest = interest
            waiter.slot = slot
            waiter.greenThread = greenThread
            // The executor-inheriting form: `withUnsafeThrowingContinuation(isolation:)` first hops
            // to its isolation (here: this function's own, the hub), and with the green thread's
            // executor preference every hop is a `swift_task_switch` that looks the preference up
            // under the task's status-record lock — about 250 instructions per wait for a hop that
            // can never move. The hop after the resumption stays (the compiler adds it).
            try await _unsafeInheritExecutor_withUnsafeThrowingContinuation { continuation in
                self.install(waiter, continuation)
            }
        } else {
            // Not a green thread of this hub (a child task, say): one handler for this wait.
            let waiter = Waiter(kind: kind)
            waiter.deadline = deadline
            waiter.registration = registration
            waiter.interest = interest
            waiter.slot = slot
            try await withTaskCancellationHandler {
                try await withUnsafeThrowingContinuation { continuation in
                    self.install(waiter, continuation)
                }
            } onCancel: {
                self.cancelFromAnyThread(waiter)
            }
        }
    }

    private func install(_ waiter: Waiter, _ continuation: UnsafeContinuation<Void, any Error>) {
        // A waiter still parked somewhere would be resumed for two waits (or lose one).
        assert(waiter.continuation == nil && waiter.heapIndex < 0, "waiter installed while still parked")
        #if DEBUG
        debugWaitCounts.parked += 1
        #endif
        waiter.continuation = continuation
        if let registration = waiter.registration {
            switch (waiter.interest, waiter.slot) {
            case (.read, .primary): registration.readers.primary = waiter
            case (.read, .secondary): registration.readers.secondary = waiter
            case (.write, .primary): registration.writers.primary = waiter
            case (.write, .secondary): registration.writers.secondary = waiter
            }
            waiterCount += 1
        }
        if waiter.kind == .sleep && waiter.deadline <= cgreenio_monotonic_ns() {
            // Already due: deadline 0 fires at the next timer check, after the jobs already ready.
            waiter.deadline = 0
        }
        if waiter.deadline != .max { timers.insert(waiter) }
        waiter.greenThread?.currentWait = waiter
        // A green thread's record holds its task: asking it directly skips the current-task look-up.
        if waiter.greenThread?.task.isCancelled ?? Task.isCancelled {
            resume(waiter, throwing: CancellationError())
        }
    }

    private func cancelFromAnyThread(_ waiter: Waiter) {
        if isOnHubThread {
            resume(waiter, throwing: CancellationError())
        } else {
            post(.cancelWaiter(waiter))
        }
    }

    // MARK: Timer callbacks

    /// A callback scheduled with `schedule(at:_:)`; cancel it to drop it from the timer heap.
    public struct ScheduledCallback: Sendable {
        let waiter: Waiter
        let hub: Hub

        /// Removes the callback if it has not run yet. Hub thread only; idempotent.
        public func cancel() {
            guard hub.isOnHubThread, waiter.callback != nil else { return }
            waiter.callback = nil
            hub.timers.remove(waiter)
        }
    }

    /// Runs `callback` on the hub thread at `deadline`. An error it throws goes to `errorHandler`
    /// and the hub keeps running. Hub thread only.
    ///
    /// - Throws: `IOError` `.notOnHub` off the hub's thread.
    @discardableResult
    public func schedule(at deadline: Deadline, _ callback: @escaping () throws -> Void) throws -> ScheduledCallback {
        guard isOnHubThread else { throw IOError(.notOnHub, "Hub.schedule must be called on the hub's thread") }
        let waiter = Waiter(kind: .callback)
        waiter.callback = callback
        waiter.deadline = deadline.nanoseconds
        timers.insert(waiter)
        return ScheduledCallback(waiter: waiter, hub: self)
    }
}
