import GreenIO
import Logging

extension HubWorker {
    /// Reads the PROXY header of a connection accepted from `peer` on a listener that requires
    /// one: refused at once when `peer` is not trusted, else `ProxyHeader.read` within `deadline`.
    /// Never inlined: the header's buffer and parse live in this frame, gone before the handler runs.
    @inline(never)
    func readProxyHeader(_ client: Socket, from peer: SocketAddress, proxy: ProxyProtocolConfiguration,
                         deadline: Deadline?) async -> Result<ProxiedPeer, ProxyRefusal> {
        guard proxy.trusts(peer) else {
            return .failure(ProxyRefusal(error: ProxyHeaderError(.untrusted, "peer is not a trusted source")))
        }
        do {
            let header = try await ProxyHeader.read(from: client, maxV2Length: proxy.maxV2Length, deadline: deadline)
            return .success(ProxiedPeer(header: header, balancer: peer))
        } catch let error as ProxyHeaderError {
            return .failure(ProxyRefusal(error: error))
        } catch {
            return .failure(ProxyRefusal(error: nil))  // Cancelled: the server is stopping.
        }
    }

    /// Closes a connection whose PROXY header was refused, counting it, and logs "close PEER
    /// (proxy header KIND: DETAIL)" (a warning for an untrusted peer).
    @inline(never)
    func refuse(_ client: Socket, peer: SocketAddress, _ refusal: ProxyRefusal) {
        let logger = self.logger.forConnection(peer: peer, hub: nil)
        guard let error = refusal.error else {
            return finish(client, peer: peer, logger: logger, reason: .serverStopping, connection: nil)
        }
        state.metrics.recordProxyHeaderFailure(error.kind)
        finish(client, peer: peer, logger: logger, reason: .proxyHeaderRefused(error), connection: nil,
               level: error.kind == .untrusted ? .warning : .info)
    }
}

/// Why a PROXY header was not accepted: the error, or nil when the server stopped first.
struct ProxyRefusal: Error {
    let error: ProxyHeaderError?
}
