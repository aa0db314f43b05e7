import CGreenIO
import Glibc

extension Hub {
    /// Runs the loop on the calling thread until `shouldStop()` returns true (checked after every
    /// batch of jobs) or the hub is stopped. The loop is deliberately non-generic.
    ///
    /// - Precondition: no other hub loop runs on this thread, and this hub's loop runs nowhere else.
    public func runLoop(until shouldStop: () -> Bool) {
        runLoop(retiring: false, until: shouldStop)
    }

    /// The loop; with `retiring`, the hub's last run: `retire()` runs before `loopRunning` drops,
    /// while other threads still post their deregistrations to the inbox instead of touching the
    /// tables themselves.
    func runLoop(retiring: Bool, until shouldStop: () -> Bool) {
        let previous = cgreenio_current_hub()
        precondition(previous == nil || previous == Unmanaged.passUnretained(self).toOpaque(),
                     "another hub already runs on this thread")
        cgreenio_set_current_hub(Unmanaged.passUnretained(self).toOpaque())
        let previousClock = cgreenio_virtual_clock()
        cgreenio_set_virtual_clock(virtualClock)
        loopThread.withLockTraced(by: self) { $0 = pthread_self() }
        loopRunning.store(true, ordering: .releasing)
        defer {
            if retiring { retire() }
            loopRunning.store(false, ordering: .releasing)
            cgreenio_set_virtual_clock(previousClock)
            cgreenio_set_current_hub(previous)
        }
        stoppedLoop = false
        while true {
            runReadyJobs()
            if shouldStop() || stoppedLoop { return }
            let events = poll(timeoutMilliseconds: nextPollTimeout())
            if events == 0 && virtualClock != nil { jumpToFirstTimer() }
            fireTimers()
            runIdleReleases()
            if inboxNonEmpty.load(ordering: .acquiring) { drainInbox() }
        }
    }

    /// Virtual time: no green thread can run, nothing came from another thread and no descriptor
    /// turned ready within the autojump threshold, so the clock moves to the first timer.
    private func jumpToFirstTimer() {
        guard let virtualClock, autojumpMilliseconds != nil, offloadsInFlight == 0, ready.isEmpty,
              !inboxNonEmpty.load(ordering: .acquiring), let first = timers.first,
              first.deadline > virtualClock.pointee else { return }
        virtualClock.pointee = first.deadline
    }

    @inline(__always) func runReadyJobs() {
        let executor = asUnownedTaskExecutor()
        while !ready.isEmpty {
            swap(&ready, &running)
            if slowJobThresholdNanoseconds == 0 {
                for job in running {
                    job.runSynchronously(on: executor)
                }
            } else {
                runTimed(running, on: executor)
            }
            running.removeAll(keepingCapacity: true)
            if inboxNonEmpty.load(ordering: .acquiring) { drainInbox() }
            // Let I/O in between batches so a busy set of green threads cannot starve the rest.
            if !ready.isEmpty {
                poll(timeoutMilliseconds: 0)
                fireTimers()
            }
        }
    }

    /// Runs jobs, reporting each one that holds the hub thread longer than the threshold.
    private func runTimed(_ jobs: [UnownedJob], on executor: UnownedTaskExecutor) {
        for job in jobs {
            let start = cgreenio_monotonic_ns()
            job.runSynchronously(on: executor)
            let elapsed = cgreenio_monotonic_ns() - start
            if elapsed >= slowJobThresholdNanoseconds {
                slowJobHandler(.nanoseconds(Int64(clamping: elapsed)))
            }
        }
    }

    /// 0 when there is work to do, -1 when nothing has a deadline, else the time to the next timer
    /// rounded up to a whole millisecond (never down: eventlet #30 spun on sub-millisecond rests).
    /// On virtual time a pending timer gives the autojump threshold instead (-1 without one, or
    /// while work is out in the blocking pool).
    func nextPollTimeout() -> Int32 {
        if !ready.isEmpty || inboxNonEmpty.load(ordering: .acquiring) { return 0 }
        let firstDeadline: UInt64
        switch (timers.first?.deadline, idleReleases.firstDue) {
        case (nil, nil): return -1
        case (let timer?, nil): firstDeadline = timer
        case (nil, let release?): firstDeadline = release
        case (let timer?, let release?): firstDeadline = Swift.min(timer, release)
        }
        let now = cgreenio_monotonic_ns()
        if firstDeadline <= now { return 0 }
        if virtualClock != nil {
            if timers.first == nil { return -1 }  // no jump for a memory release alone
            return offloadsInFlight > 0 ? -1 : autojumpMilliseconds ?? -1
        }
        let ms = (firstDeadline - now + 999_999) / 1_000_000
        return ms > UInt64(Int32.max) ? Int32.max : Int32(ms)
    }

    /// Waits for readiness and wakes the waiters; returns what the poller's wait returned (the
    /// count of events, a wake-up's included; -1 when a signal interrupted it, e.g. SIGSTOP/SIGCONT:
    /// the loop just goes round).
    @discardableResult
    func poll(timeoutMilliseconds: Int32) -> Int32 {
        poller.wait(timeoutMilliseconds: timeoutMilliseconds) { tag, readiness in
            // An event for a registration since replaced (same number, older generation) is stale.
            let fd = Int(truncatingIfNeeded: UInt32(truncatingIfNeeded: tag))
            guard fd < registrations.count, let registration = registrations[fd],
                  registration.generation == UInt32(truncatingIfNeeded: tag >> 32) else { return }
            if readiness.isEndOrError { registration.sawEndOrError = true }
            if readiness.isReadable { wakeReaders(registration) }
            if readiness.isWritable { wakeWriters(registration) }
        }
    }

    func wakeReaders(_ registration: FDRegistration) {
        let (primary, secondary) = registration.readers
        if primary == nil && secondary == nil {
            registration.readReady = true
            return
        }
        wakeBoth(primary, secondary, registration)
    }

    func wakeWriters(_ registration: FDRegistration) {
        if let handler = registration.writableHandler, !handler() { registration.writableHandler = nil }
        let (primary, secondary) = registration.writers
        if primary == nil && secondary == nil {
            registration.writeReady = true
            return
        }
        wakeBoth(primary, secondary, registration)
    }

    /// Resumes the waiters of one direction. When both slots are taken, the order alternates, so
    /// that two readers sharing a socket (the opt-in second slot) take turns at the data.
    @inline(__always) private func wakeBoth(_ primary: Waiter?, _ secondary: Waiter?, _ registration: FDRegistration) {
        guard let primary, let secondary else {
            if let primary { resume(primary, throwing: nil) }
            if let secondary { resume(secondary, throwing: nil) }
            return
        }
        registration.secondaryFirst.toggle()
        if registration.secondaryFirst {
            resume(secondary, throwing: nil)
            resume(primary, throwing: nil)
        } else {
            resume(primary, throwing: nil)
            resume(secondary, throwing: nil)
        }
    }

    func fireTimers() {
        guard let first = timers.first else { return }
        let now = cgreenio_monotonic_ns()
        if first.deadline > now { return }
        // At most the timers present now: a callback that schedules another due callback cannot
        // keep this loop from polling.
        var budget = timers.count
        while budget > 0, let waiter = timers.first, waiter.deadline <= now {
            budget -= 1
            timers.remove(waiter)
            switch waiter.kind {
            case .io:
                resume(waiter, throwing: IOError.timedOut())
            case .sleep:
                resume(waiter, throwing: nil)
            case .callback:
                guard let callback = waiter.callback else { continue }
                waiter.callback = nil
                do { try callback() } catch { errorHandler(error) }
            }
        }
    }

    func drainInbox() {
        let (jobs, messages) = withInbox { box -> ([UnownedJob], [InboxMessage]) in
            inboxNonEmpty.store(false, ordering: .relaxed)
            box.signalled = false
            let taken = (box.jobs, box.messages)
            box.jobs = []
            box.messages = []
            return taken
        }
        ready.append(contentsOf: jobs)
        for message in messages {
            switch message {
            case .cancelGreenThread(let greenThread):
                if let waiter = greenThread.currentWait { resume(waiter, throwing: CancellationError()) }
            case .cancelWaiter(let waiter):
                resume(waiter, throwing: CancellationError())
            case .deregister(let registration, let closeDescriptor):
                deregisterOnHubThread(registration, closeDescriptor: closeDescriptor)
            case .call(let body):
                body()
            case .stop:
                beginStopping()
            }
        }
    }

    /// Resumes a parked waiter exactly once, taking it out of its wait slot and the timer heap first.
    /// `error == nil` means "ready" (or "slept"). Hub thread only.
    func resume(_ waiter: Waiter, throwing error: (any Error)?) {
        guard let continuation = waiter.continuation else {
            #if DEBUG
            debugWaitCounts.alreadyResumed += 1
            #endif
            return
        }
        waiter.continuation = nil
        #if DEBUG
        debugWaitCounts.resumed += 1
        #endif
        if let registration = waiter.registration {
            detach(waiter, from: registration)
            waiter.registration = nil
            waiterCount -= 1
        }
        if waiter.heapIndex >= 0 { timers.remove(waiter) }
        assert(waiter.heapIndex < 0, "a resumed waiter is still in the timer heap")
        if let greenThread = waiter.greenThread {
            if greenThread.currentWait === waiter { greenThread.currentWait = nil }
            waiter.greenThread = nil
        }
        if let error {
            continuation.resume(throwing: error)
        } else {
            continuation.resume()
        }
    }

    private func detach(_ waiter: Waiter, from registration: FDRegistration) {
        switch (waiter.interest, waiter.slot) {
        case (.read, .primary): if registration.readers.primary === waiter { registration.readers.primary = nil }
        case (.read, .secondary): if registration.readers.secondary === waiter { registration.readers.secondary = nil }
        case (.write, .primary): if registration.writers.primary === waiter { registration.writers.primary = nil }
        case (.write, .secondary): if registration.writers.secondary === waiter { registration.writers.secondary = nil }
        }
    }
}
