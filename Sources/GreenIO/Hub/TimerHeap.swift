/// A binary min-heap of waiters ordered by (deadline, insertion sequence).
///
/// Each waiter records its index, so a waiter that resumes for another reason is removed in
/// O(log n) at once: long deadlines on busy sockets never pile up (eventlet's `TestTimerCleanup`).
struct TimerHeap {
    private(set) var items: [Waiter] = []
    private var nextSequence: UInt64 = 0

    var count: Int { items.count }
    var first: Waiter? { items.first }

    mutating func insert(_ waiter: Waiter) {
        waiter.sequence = nextSequence
        nextSequence &+= 1
        waiter.heapIndex = items.count
        items.append(waiter)
        siftUp(items.count - 1)
    }

    mutating func remove(_ waiter: Waiter) {
        let index = waiter.heapIndex
        guard index >= 0, index < items.count, items[index] === waiter else { return }
        waiter.heapIndex = -1
        let last = items.removeLast()
        if index < items.count {
            items[index] = last
            last.heapIndex = index
            siftDown(index)
            siftUp(last.heapIndex)
        }
    }

    private func less(_ a: Waiter, _ b: Waiter) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence
    }

    private mutating func swapAt(_ i: Int, _ j: Int) {
        items.swapAt(i, j)
        items[i].heapIndex = i
        items[j].heapIndex = j
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard less(items[child], items[parent]) else { return }
            swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { return }
            var smallest = left
            if left + 1 < items.count && less(items[left + 1], items[left]) { smallest = left + 1 }
            guard less(items[smallest], items[parent]) else { return }
            swapAt(smallest, parent)
            parent = smallest
        }
    }
}
