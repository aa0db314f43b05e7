import COpenSSL
import Synchronization

/// The keys a server encrypts its TLS session tickets with, in memory only, rotated automatically:
/// a new key every `rotationInterval`, and the `retainedKeys` before it still accepted (a ticket
/// under an older key is honoured and replaced by one under the current key). Share one instance
/// between the server contexts of a process — all its hubs, its SNI contexts, the contexts that
/// replace them on a reload — so a ticket from any of them resumes on any other.
///
/// Tickets under a key that has been dropped, or from another process, simply get a full
/// handshake.
public final class TLSSessionTicketKeys: Sendable {
    /// How often a new key is made (checked when a ticket is issued). Default 1 hour.
    public let rotationInterval: Duration
    /// How many keys before the current one still decrypt tickets. Default 2 (a ticket lives up to
    /// about three rotation intervals).
    public let retainedKeys: Int

    private struct Key {
        var material: greenio_ticket_key
        let created: ContinuousClock.Instant
    }

    /// Newest first.
    private let keys: Mutex<[Key]>

    /// Keys rotated every `rotationInterval`, with `retainedKeys` older ones accepted.
    /// - Throws: `IOError` `.invalidArgument` for a non-positive interval or a negative count;
    ///   `.tls` if the system's random generator fails.
    public init(rotationInterval: Duration = .seconds(3600), retainedKeys: Int = 2) throws {
        guard rotationInterval > .zero else { throw IOError.invalidArgument("rotationInterval must be positive") }
        guard retainedKeys >= 0 else { throw IOError.invalidArgument("retainedKeys must not be negative") }
        self.rotationInterval = rotationInterval
        self.retainedKeys = retainedKeys
        keys = Mutex([try Self.newKey()])
    }

    /// Makes a new current key now (the schedule restarts from here); the oldest beyond
    /// `retainedKeys` is dropped.
    /// - Throws: `IOError` `.tls` if the system's random generator fails.
    public func rotate() throws {
        let key = try Self.newKey()
        keys.withLock { push(key, onto: &$0) }
    }

    /// Makes `key` the current one and drops those beyond `retainedKeys`.
    private func push(_ key: Key, onto keys: inout [Key]) {
        keys.insert(key, at: 0)
        if keys.count > retainedKeys + 1 { keys.removeLast(keys.count - retainedKeys - 1) }
    }

    /// How many keys decrypt tickets now (the current one and those retained).
    public var keyCount: Int { keys.withLock { $0.count } }

    /// The key to encrypt with (rotating first when the current one is due; 1), or the key `name`:
    /// 2 — "valid, renew the ticket" — whichever key it is, so every resumed connection gets a
    /// fresh ticket (OpenSSL's clients, GreenIO's among them, use a TLS 1.3 ticket once); 0 for
    /// none.
    fileprivate func lookup(name: UnsafePointer<UInt8>?, encrypting: Bool, into out: inout greenio_ticket_key) -> Int32 {
        if encrypting {
            // Checked and rotated under one lock: hubs issuing tickets at once rotate once.
            let current: Key? = keys.withLock { keys in
                if let first = keys.first, first.created.duration(to: .now) >= rotationInterval, let key = try? Self.newKey() {
                    push(key, onto: &keys)
                }
                return keys.first
            }
            guard let current else { return 0 }
            out = current.material
            return 1
        }
        guard let name else { return 0 }
        return keys.withLock { keys in
            for key in keys {
                let matches = withUnsafeBytes(of: key.material.name) { stored in
                    stored.elementsEqual(UnsafeBufferPointer(start: name, count: 16))
                }
                if matches {
                    out = key.material
                    return 2
                }
            }
            return 0
        }
    }

    private static func newKey() throws -> Key {
        var material = greenio_ticket_key()
        let ok = withUnsafeMutableBytes(of: &material) { RAND_bytes($0.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32($0.count)) }
        guard ok == 1 else { throw OpenSSLErrors.error("cannot make a session ticket key") }
        return Key(material: material, created: .now)
    }
}

/// How a server context lets clients resume sessions (an abbreviated handshake: no certificate,
/// no key exchange signature).
public struct TLSSessionResumption: Sendable {
    /// Issue session tickets encrypted with these keys (the client keeps the session); nil for no
    /// tickets.
    public var ticketKeys: TLSSessionTicketKeys?
    /// Keep sessions in the context's own cache (TLS 1.2 session IDs, and TLS 1.3 resumption when
    /// tickets are off), shared by every connection made with the context.
    public var cache: Bool

    /// Tickets under `ticketKeys`, and the cache as given.
    public init(ticketKeys: TLSSessionTicketKeys?, cache: Bool = true) {
        self.ticketKeys = ticketKeys
        self.cache = cache
    }

    /// Tickets with keys of their own (rotated hourly) and the cache: the default of
    /// `TLSContext.server`. Servers that replace their context (a reload) should make one
    /// `TLSSessionTicketKeys` and pass it each time, so tickets survive the reload.
    public static func enabled() throws -> TLSSessionResumption {
        TLSSessionResumption(ticketKeys: try TLSSessionTicketKeys(), cache: true)
    }

    /// No resumption: every connection makes a full handshake.
    public static let disabled = TLSSessionResumption(ticketKeys: nil, cache: false)
}

extension TLSContext {
    /// Sets up tickets and the session cache for a server context.
    func configure(_ resumption: TLSSessionResumption) throws {
        var id = Array("greenio".utf8)
        _ = greenio_SSL_CTX_set_session_id_context(context, &id, UInt32(id.count))
        _ = greenio_SSL_CTX_set_session_cache_mode(context, resumption.cache ? greenio_SSL_SESS_CACHE_SERVER() : greenio_SSL_SESS_CACHE_OFF())
        guard let keys = resumption.ticketKeys else {
            _ = greenio_SSL_CTX_set_options(context, greenio_SSL_OP_NO_TICKET())
            return
        }
        let source = UnsafeMutablePointer<greenio_ticket_source>.allocate(capacity: 1)
        source.initialize(to: greenio_ticket_source(lookup: lookupTicketKey, arg: Unmanaged.passUnretained(keys).toOpaque()))
        ticketResources = (keys, source)
        guard greenio_SSL_CTX_set_ticket_source(context, source) == 1 else {
            throw OpenSSLErrors.error("cannot install the session ticket keys")
        }
    }
}

/// The C lookup: `arg` is the `TLSSessionTicketKeys` the context keeps alive.
private func lookupTicketKey(_ arg: UnsafeMutableRawPointer?, _ name: UnsafePointer<UInt8>?, _ encrypting: Int32,
                             _ out: UnsafeMutablePointer<greenio_ticket_key>?) -> Int32 {
    guard let arg, let out else { return 0 }
    let keys = Unmanaged<TLSSessionTicketKeys>.fromOpaque(arg).takeUnretainedValue()
    return keys.lookup(name: name, encrypting: encrypting != 0, into: &out.pointee)
}
