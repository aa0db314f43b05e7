import Logging

/// How `greenio serve` logs: each message alone on a line of standard error ("open PEER",
/// "close PEER (REASON)", "accept failed: …"), followed by " hub=K" when the server has several
/// hubs and the message comes from one. Levels below `logLevel` (`--log-level`, default `info`)
/// are dropped.
struct ServeLogHandler: LogHandler {
    /// Whether to add the `hub` metadata to each line.
    let showsHub: Bool
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        if showsHub, let hub = metadata["hub"] {
            StandardStreams.printError("\(event.message) hub=\(hub)")
        } else {
            StandardStreams.printError("\(event.message)")
        }
    }
}
