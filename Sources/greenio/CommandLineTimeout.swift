import ArgumentParser

/// The `--timeout SECONDS` option shared by the commands.
enum CommandLineTimeout {
    /// Converts seconds to a duration: nil stays nil; anything but a positive, finite number of
    /// seconds (at most a year) is a usage error.
    static func duration(_ seconds: Double?) throws -> Duration? {
        guard let seconds else { return nil }
        guard seconds.isFinite, seconds > 0, seconds <= 365 * 86_400 else {
            throw ValidationError("--timeout must be a positive number of seconds (at most one year)")
        }
        return .nanoseconds(Int64((seconds * 1e9).rounded(.up)))
    }
}
