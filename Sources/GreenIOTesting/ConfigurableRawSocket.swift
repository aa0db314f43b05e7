import GreenIO

/// A `RawSocket` whose timeout mode can be set: what `RawSocketConformance` needs to run its checks
/// in each mode. `Socket`, `TLSSocket` and `ScriptedSocket` conform; a transport of your own
/// conforms by having `setTimeout(_:)`.
public protocol ConfigurableRawSocket: RawSocket {
    /// Sets the timeout mode for the operations that follow.
    /// - Throws: `IOError` `.invalidArgument` for a negative duration, or the socket's own errors.
    func setTimeout(_ mode: TimeoutMode) throws
}

/// GreenIO's plain socket conforms already: it has `setTimeout(_:)`.
extension Socket: ConfigurableRawSocket {}
/// GreenIO's TLS socket conforms already: it has `setTimeout(_:)`.
extension TLSSocket: ConfigurableRawSocket {}
