import GreenIO

/// A socket whose timeout mode `RESPCommandReader` can switch (plain or TLS).
protocol EchoConnection: RawSocket {
    func setTimeout(_ mode: TimeoutMode) throws
}

extension Socket: EchoConnection {}
extension TLSSocket: EchoConnection {}
