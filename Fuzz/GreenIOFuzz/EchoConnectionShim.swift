import GreenIO

/// The one requirement `RESPCommandReader` (RESPProtocol.swift, compiled here unchanged) has of
/// `greenio`'s `EchoConnection`: switching the timeout mode. The full protocol lives with the
/// CLI's session code, which the fuzzer does not need; if the reader ever uses more of it, this
/// build fails to compile rather than fuzzing something else.
protocol EchoConnection: RawSocket {
    func setTimeout(_ mode: TimeoutMode) throws
}
