import COpenSSL

/// OpenSSL's per-thread error queue. Many connections share a hub thread, so the queue is cleared
/// before every `SSL_*` I/O call and read right after it: a stale entry from one connection must
/// never be blamed on another.
enum OpenSSLErrors {
    /// Empties the calling thread's queue. (Peeking first is much cheaper than `ERR_clear_error`,
    /// which walks every slot, and the queue is almost always empty.)
    @inline(__always) static func clear() {
        if ERR_peek_error() != 0 { ERR_clear_error() }
    }

    /// The reason code of the oldest queued error (0 if none), without removing it.
    static func peekReason() -> Int32 {
        let code = ERR_peek_error()
        return code == 0 ? 0 : greenio_ERR_GET_REASON(code)
    }

    /// Takes every queued error and joins their texts ("error:0A000086:SSL routines::certificate
    /// verify failed"); `fallback` when the queue is empty.
    static func drain(fallback: String) -> String {
        var texts: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            texts.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return texts.isEmpty ? fallback : texts.joined(separator: "; ")
    }

    /// An `IOError` of kind `.tls` from the queue (which it empties).
    static func error(_ what: String) -> IOError {
        IOError(.tls, drain(fallback: what))
    }
}
