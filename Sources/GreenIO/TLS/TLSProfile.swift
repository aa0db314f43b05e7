import COpenSSL

/// A set of TLS versions, cipher suites and key-exchange groups, after Mozilla's server-side TLS
/// recommendations (<https://wiki.mozilla.org/Security/Server_Side_TLS>, version 5.7), which
/// `TLSContext.server` and `TLSContext.client` apply (`.intermediate` unless told otherwise).
///
/// Every profile refuses compression and renegotiation and never accepts 0-RTT early data.
public enum TLSProfile: Sendable, Hashable {
    /// TLS 1.3 only, with its three AEAD suites: for clients that all speak TLS 1.3.
    case modern
    /// TLS 1.2 and 1.3 (the default). TLS 1.3: AES-128-GCM, AES-256-GCM, ChaCha20-Poly1305. TLS
    /// 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only (AES-GCM,
    /// ChaCha20-Poly1305): no RSA key exchange, no CBC, no SHA-1 MACs. Groups X25519, P-256,
    /// P-384. Mozilla's "intermediate" without its finite-field DHE suites.
    case intermediate
    /// OpenSSL's own defaults (TLS 1.2 and later): for those who must talk to peers that the
    /// profiles above refuse, or who set every list themselves afterwards (`setCiphers`,
    /// `setCipherSuites`, `setGroups`, `setMinimumVersion`). Not recommended: it accepts RSA key
    /// exchange and CBC suites.
    case openSSLDefaults

    /// The TLS 1.3 suites of both profiles, in Mozilla's order.
    static let tls13Suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
    /// The TLS 1.2 ciphers of `.intermediate`, in Mozilla's order.
    static let tls12Ciphers = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")
    /// The groups of both profiles.
    static let groups = "X25519:P-256:P-384"
}

extension TLSContext {
    /// Sets the versions, cipher suites and groups of `profile`, replacing what was set before
    /// (`TLSContext.server` and `.client` apply their `profile` argument this way). Later calls
    /// to `setCiphers`, `setMinimumVersion`, … adjust it.
    /// - Throws: `IOError` `.tls` if OpenSSL refuses a list.
    public func apply(_ profile: TLSProfile) throws {
        _ = SSL_CTX_set_max_early_data(context, 0)
        switch profile {
        case .modern:
            try setMinimumVersion(.tls1_3)
            try setCipherSuites(TLSProfile.tls13Suites)
            try setGroups(TLSProfile.groups)
        case .intermediate:
            try setMinimumVersion(.tls1_2)
            try setCiphers(TLSProfile.tls12Ciphers)
            try setCipherSuites(TLSProfile.tls13Suites)
            try setGroups(TLSProfile.groups)
        case .openSSLDefaults:
            try setMinimumVersion(.tls1_2)
            try setCiphers("DEFAULT")
            try setCipherSuites("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256")
            try setGroups("X25519:P-256:X448:P-521:P-384:ffdhe2048:ffdhe3072:ffdhe4096:ffdhe6144:ffdhe8192")
        }
    }
}
