import CGreenIO
import Glibc

/// The hub's record of one green thread it spawned: which wait it is parked in, so that its single
/// cancellation handler can resume that wait.
final class GreenThread: @unchecked Sendable {
    /// The task, for cancelling it when the hub stops; valid while the record is in the table.
    let task: UnsafeCurrentTask
    /// The wait this green thread is parked in (hub thread only).
    @exclusivity(unchecked) var currentWait: Waiter?
    /// A waiter to reuse for the next wait: a green thread is in at most one wait at a time.
    @exclusivity(unchecked) var spareWaiter: Waiter?

    init(task: UnsafeCurrentTask) { self.task = task }
}

extension Hub {
    /// The identity of the running task (its address), or 0 outside a task.
    @inline(__always) static func currentTaskKey() -> UInt {
        withUnsafeCurrentTask { task in task.map { unsafeBitCast($0, to: UInt.self) } ?? 0 }
    }
}

extension Hub {
    /// Starts a green thread: a task that runs `body` on this hub's thread, as do its child tasks.
    ///
    /// Callable from any thread. The returned task gives the body's result or error; cancelling it
    /// wakes whatever wait the green thread is parked in with `CancellationError`. A green thread
    /// spawned while the hub stops is cancelled at once; one spawned after its loop has ended for
    /// good never runs.
    @discardableResult
    public func spawn<Success: Sendable>(
        _ body: sending @escaping () async throws -> Success
    ) -> Task<Success, any Error> {
        Task(executorPreference: self) {
            try await self.runGreenThread(body)
        }
    }

    private func runGreenThread<Success>(_ body: () async throws -> Success) async throws -> Success {
        let record: GreenThread? = withUnsafeCurrentTask { task in
            guard let task, isOnHubThread else { return nil }
            let record = GreenThread(task: task)
            greenThreads.insert(unsafeBitCast(task, to: UInt.self), record)
            // One that starts while the hub stops (spawned late, or queued before the stop) is
            // cancelled like those that were already running, or the hub could never finish.
            if isStopping { task.cancel() }
            return record
        }
        defer {
            if let record { greenThreads.remove(unsafeBitCast(record.task, to: UInt.self)) }
        }
        return try await withTaskCancellationHandler {
            try await body()
        } onCancel: {
            if let record { self.cancel(record) }
        }
    }

    /// Called by a green thread's cancellation handler, on whatever thread cancelled it.
    private func cancel(_ greenThread: GreenThread) {
        if isOnHubThread {
            if let waiter = greenThread.currentWait { resume(waiter, throwing: CancellationError()) }
        } else {
            post(.cancelGreenThread(greenThread))
        }
    }

    // MARK: Entry points

    /// Creates a hub on the calling thread, runs `body` as its first green thread, and returns the
    /// body's result when it finishes. Green threads still running then are cancelled, and the call
    /// returns once they have ended. This is the blocking entry for `main` and command-line tools.
    ///
    /// - Throws: whatever `body` throws, or `IOError` if the hub cannot be created.
    public static func run<Success: Sendable>(
        _ body: sending @escaping () async throws -> Success
    ) throws -> Success {
        let hub = try Hub()
        let task = hub.spawn(body)
        let box = ResultBox<Success>()
        let finished = Flag()
        hub.spawn {
            do { box.result = .success(try await task.value) } catch { box.result = .failure(error) }
            finished.isSet = true
        }
        // The stop check runs after every batch of jobs: keep it non-generic.
        hub.runLoop { finished.isSet }
        hub.isStopping = true
        hub.cancelAllGreenThreads()
        hub.runLoop(retiring: true) { hub.greenThreads.isEmpty }
        guard let result = box.result else { throw CancellationError() }
        return try result.get()
    }

    /// Starts a hub on a new thread of its own and returns it. The loop runs until `stop()`.
    ///
    /// - Throws: `IOError` if the hub or the thread cannot be created.
    public static func startThread(name: String = "greenio-hub") throws -> Hub {
        let hub = try Hub()
        try hub.startLoopThread(name: name)
        return hub
    }

    /// Runs this hub's loop on a new thread of its own until `stop()` (what `startThread(name:)`
    /// does with a new hub). Call it once, before the loop runs anywhere else.
    /// - Throws: `IOError` if the thread cannot be created.
    package func startLoopThread(name: String) throws {
        try Hub.startThread(named: name) {
            self.runLoop { false }
            self.runLoop(retiring: true) { self.greenThreads.isEmpty }
            self.finished.store(true, ordering: .releasing)
        }
    }

    /// Starts a new thread that does what `run(_:)` does on the calling thread: creates a hub,
    /// runs `body` as its first green thread, cancels the green threads still running when `body`
    /// returns and waits for them; then it calls `completion` with `body`'s outcome (or the error
    /// that kept the hub from starting) and the thread ends.
    ///
    /// - Throws: `IOError` if the thread cannot be created (then neither runs).
    public static func startThread(name: String, running body: sending @escaping () async throws -> Void,
                                   completion: @escaping @Sendable (Result<Void, any Error>) -> Void) throws {
        nonisolated(unsafe) let body = body
        try startThread(named: name) {
            completion(Result { try Hub.run(body) })
        }
    }

    /// Starts a detached thread named `name` that runs `main`. The corresponding C function is
    /// `pthread_create`.
    private static func startThread(named name: String, _ main: @escaping () -> Void) throws {
        let context = Unmanaged.passRetained(ThreadStart(name: name, main: main)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let start = Unmanaged<ThreadStart>.fromOpaque(raw).takeRetainedValue()
            cgreenio_set_thread_name(start.name)
            start.main()
            return nil
        }, context)
        guard result == 0 else {
            Unmanaged<ThreadStart>.fromOpaque(context).release()
            throw IOError.system(Errno(rawValue: result))
        }
        pthread_detach(thread)
    }

    /// Asks the hub to stop: its green threads are cancelled, and the loop returns once they have
    /// ended (for a hub started with `startThread`, the thread then exits). Callable from any thread.
    public func stop() {
        post(.stop)
    }

    func beginStopping() {
        isStopping = true
        stoppedLoop = true
        cancelAllGreenThreads()
    }

    /// Cancels every live green thread of this hub (their handlers wake their waits). Hub thread only.
    func cancelAllGreenThreads() {
        for record in greenThreads.records { record.task.cancel() }
    }
}

private final class ThreadStart {
    let name: String
    let main: () -> Void
    init(name: String, main: @escaping () -> Void) {
        self.name = name
        self.main = main
    }
}

private final class Flag: @unchecked Sendable {
    var isSet = false
}

private final class ResultBox<Success>: @unchecked Sendable {
    var result: Result<Success, any Error>?
}
