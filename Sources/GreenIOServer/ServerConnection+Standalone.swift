import GreenIO
import Logging

extension ServerConnection {
    /// A connection over a socket you made yourself, as a server with `configuration` would hand it
    /// to its handler: the buffered file objects of `configuration.policy`'s size, its line limit,
    /// its line timeout (the first line's deadline runs from now) and its logger. So a handler runs
    /// without a listener — over GreenIOTesting's `ScriptedSocket`, a socket pair, or a socket
    /// inherited from elsewhere — exactly as it runs under a `Server`, on virtual time too.
    ///
    /// Call the handler yourself with it; what a `Server` does around a handler (the TLS handshake
    /// and its timeout, the connection limit, the open and close log lines, metrics, draining) is
    /// not done. `isDraining` stays false. Make it in a green thread of the hub that uses `socket`.
    ///
    /// - Parameters:
    ///   - socket: the connection: any `RawSocket` (a TLS socket after its handshake).
    ///   - peer: the address the handler and the logs see as the client's.
    ///   - configuration: the policy (buffer size, line limit, line timeout) and logger to use.
    ///   - hubIndex: the hub number the logs show.
    /// - Throws: `IOError` from making the file objects (a closed socket).
    public convenience init(socket: any RawSocket, peer: SocketAddress,
                            configuration: ServerConfiguration = ServerConfiguration(port: 0),
                            hubIndex: Int = 0) throws {
        let state = ServerState(configuration: configuration) { _ in .endOfStream }
        let file = try socket.makeReadWritePair(bufferSize: state.policy.bufferSize)
        self.init(socket: socket, peer: peer, proxied: nil, hubIndex: hubIndex, file: file,
                  firstDeadline: state.policy.lineTimeout.map { .after($0) }, server: state)
    }
}
