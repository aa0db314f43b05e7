import Glibc

/// A few threads for work that has no non-blocking form (`getaddrinfo`, reads of regular files or
/// terminals), so that it never blocks a hub thread.
final class BlockingPool: @unchecked Sendable {
    static let shared = BlockingPool(maxThreads: 8)

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var queue: [() -> Void] = []
    private var idle = 0
    private var threads = 0
    private let maxThreads: Int

    init(maxThreads: Int) {
        self.maxThreads = maxThreads
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    func submit(_ work: @escaping () -> Void) {
        pthread_mutex_lock(mutex)
        queue.append(work)
        if idle == 0 && threads < maxThreads {
            threads += 1
            startThread()
        } else {
            pthread_cond_signal(condition)
        }
        pthread_mutex_unlock(mutex)
    }

    private func startThread() {
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let pool = Unmanaged<BlockingPool>.fromOpaque(raw).takeRetainedValue()
            pool.work()
            return nil
        }, context)
        if result == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<BlockingPool>.fromOpaque(context).release()
            threads -= 1
        }
    }

    private func work() {
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty {
                idle += 1
                pthread_cond_wait(condition, mutex)
                idle -= 1
            }
            let item = queue.removeFirst()
            pthread_mutex_unlock(mutex)
            item()
        }
    }
}

extension Hub {
    /// Runs `work` on a helper thread and suspends the calling task until it returns, so a call
    /// that can only block (`getaddrinfo`, reading a terminal) does not freeze the hub.
    ///
    /// The work is not cancellable once started; the task resumes on its own executor.
    public static func offload<Result: Sendable>(_ work: @escaping @Sendable () -> Result) async -> Result {
        guard let hub = current else {
            return await withUnsafeContinuation { (continuation: UnsafeContinuation<Result, Never>) in
                BlockingPool.shared.submit { continuation.resume(returning: work()) }
            }
        }
        // On a hub the helper thread hands the result back through the hub's inbox and the hub
        // thread resumes the task: the task has surely suspended by then (it runs on that thread),
        // and the only cross-thread step is the inbox, whose lock ThreadSanitizer is told about.
        // (Resumed from the helper thread, the continuation's handshake with a task still
        // suspending is synchronised inside the uninstrumented runtime, and TSan reported it.)
        hub.offloadsInFlight += 1
        return await withUnsafeContinuation { (continuation: UnsafeContinuation<Result, Never>) in
            BlockingPool.shared.submit {
                let result = work()
                hub.post(.call {
                    hub.offloadsInFlight -= 1
                    continuation.resume(returning: result)
                })
            }
        }
    }
}
