extension TimeoutMode {
    /// The deadline one raw operation starting now gets in this mode: the timeout from now, capped
    /// by the caller's `limit`; for blocking (and non-blocking) mode just `limit`, or never.
    /// (GreenIO keeps its own version internal; the rule is `RawSocket`'s.)
    func operationDeadline(capping limit: Deadline?) -> Deadline {
        switch self {
        case .blocking, .nonBlocking:
            return limit ?? .distantFuture
        case .timeout(let duration):
            let own = Deadline.after(duration)
            guard let limit else { return own }
            return min(own, limit)
        }
    }
}
