import COpenSSL

extension TLSContext {
    /// Serves `context` (another server context: its certificate, key and settings) to clients that
    /// ask for `name` with SNI: an exact name ("mail.example.com", any case) or a wildcard for one
    /// label ("*.example.com" matches "a.example.com", not "example.com" nor "a.b.example.com"; an
    /// exact name wins over a wildcard). Clients that send no name, or one not listed, get this
    /// context's own identity: it is the default. Configure before serving.
    ///
    /// The corresponding C functions are `SSL_CTX_set_tlsext_servername_callback` and, per
    /// handshake, `SSL_set_SSL_CTX`.
    /// - Throws: `IOError` `.invalidArgument` for a client context, a name that is empty, has
    ///   spaces, or a `*` other than a leading "*.", or a client `context`.
    public func addServerName(_ name: String, context: TLSContext) throws {
        guard role == .server, context.role == .server else {
            throw IOError.invalidArgument("server names are for server contexts")
        }
        let name = name.lowercased()
        let rest = name.hasPrefix("*.") ? String(name.dropFirst(2)) : name
        guard !rest.isEmpty, !rest.contains("*"), !rest.contains(" "), !rest.hasPrefix("."), !rest.hasSuffix(".") else {
            throw IOError.invalidArgument("not a server name or *.wildcard: \(name)")
        }
        if serverNames.isEmpty {
            greenio_SSL_CTX_set_servername_callback(self.context, selectServerName,
                                                    Unmanaged.passUnretained(self).toOpaque())
        }
        serverNames[name] = context
    }

    /// The context for a client's SNI `name`: exact, then the wildcard of its parent; nil for the
    /// default.
    func context(forServerName name: String) -> TLSContext? {
        let name = name.lowercased()
        if let exact = serverNames[name] { return exact }
        guard let dot = name.firstIndex(of: "."), dot != name.startIndex else { return nil }
        return serverNames["*" + name[dot...]]
    }
}

/// The SNI callback: switches the connection to the context listed for the client's server name.
/// `arg` is the default `TLSContext`, which every `TLSSocket` made with it keeps alive.
private func selectServerName(_ ssl: OpaquePointer?, _ alert: UnsafeMutablePointer<Int32>?,
                              _ arg: UnsafeMutableRawPointer?) -> Int32 {
    guard let ssl, let arg, let requested = greenio_SSL_get_servername(ssl) else { return greenio_SSL_TLSEXT_ERR_OK() }
    let defaultContext = Unmanaged<TLSContext>.fromOpaque(arg).takeUnretainedValue()
    if let chosen = defaultContext.context(forServerName: String(cString: requested)) {
        _ = SSL_set_SSL_CTX(ssl, chosen.context)
    }
    return greenio_SSL_TLSEXT_ERR_OK()
}
