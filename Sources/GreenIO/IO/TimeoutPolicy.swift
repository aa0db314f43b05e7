/// What a file object does after one of its reads timed out.
public enum TimeoutPolicy: Sendable, Hashable {
    /// CPython's rule (bpo-7322): every later read of this file object fails with
    /// "cannot read from timed out object". The socket and other file objects stay usable.
    case latch
    /// Go/asyncio style: the timeout is reported once and the next read simply continues.
    /// GreenIO never loses received bytes, so nothing is missing when it does.
    case resumable
}
