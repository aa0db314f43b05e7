import Glibc

extension Socket {
    /// Upgrades this plain connection to TLS in the middle of a protocol (SMTP, IMAP, POP3, XMPP
    /// "STARTTLS"), refusing the upgrade when cleartext bytes have already arrived after the upgrade
    /// command: such bytes would otherwise be taken as if they came over TLS (the classic STARTTLS
    /// command-injection hole).
    ///
    /// - Parameters:
    ///   - context: the TLS context; its role decides the side.
    ///   - serverHostname: for clients, the name to verify (see `TLSSocket.wrap`).
    ///   - reader: the buffered reader the protocol used on this socket, if any. It must hold no
    ///     unread bytes; it is closed by the upgrade (its reads would no longer mean anything).
    /// - Returns: the TLS socket, after its handshake; this socket is detached.
    /// - Throws: `IOError` `.invalidArgument` "STARTTLS refused: …" when `reader` holds unread bytes,
    ///   or (for a client) when the peer already sent bytes before the client's handshake started;
    ///   otherwise as `TLSSocket.wrap`.
    public func startTLS(context: TLSContext, serverHostname: String? = nil,
                         reader: BufferedReader? = nil) async throws -> TLSSocket {
        if let reader {
            let unread = reader.bufferedByteCount
            guard unread == 0 else {
                throw IOError.invalidArgument(
                    "STARTTLS refused: \(unread) cleartext bytes were received after the upgrade command")
            }
            reader.close()
        }
        if context.role == .client {
            // A server speaks only after the client's ClientHello: anything waiting now was injected.
            var probe: UInt8 = 0
            let peeked = SystemCall.receive(try openDescriptor(), &probe, 1, flags: Int32(MSG_PEEK | MSG_DONTWAIT),
                                            retryOnInterrupt: false)
            let waiting = if case .success(let count) = peeked { count } else { 0 }
            guard waiting <= 0 && carriedInput == nil else {
                throw IOError.invalidArgument("STARTTLS refused: the server sent cleartext bytes before the TLS handshake")
            }
        }
        return try await TLSSocket.wrap(self, context: context, serverHostname: serverHostname)
    }
}
