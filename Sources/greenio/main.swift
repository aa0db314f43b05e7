import ArgumentParser
import Glibc

/// The `greenio` command: line servers and clients on GreenIO's green threads.
struct GreenIOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenio",
        abstract: "Line servers and clients on GreenIO's green threads.",
        subcommands: [Serve.self, Connect.self, Bench.self, PingPong.self, IOBench.self])

    /// The exit code for bad arguments (ArgumentParser's own default is 64, `EX_USAGE`).
    static let usageExitCode: Int32 = 2

    /// Exits for an error from parsing or running a command: help requests exit 0, usage errors
    /// print the message and usage to standard error and exit 2, anything else as ArgumentParser
    /// would (a command's own `ExitCode`, or the message and exit code 1).
    static func exit(reporting error: any Error) -> Never {
        guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
        StandardStreams.printError(fullMessage(for: error))
        Glibc.exit(usageExitCode)
    }
}

do {
    var command = try GreenIOCommand.parseAsRoot()
    try command.run()
} catch {
    GreenIOCommand.exit(reporting: error)
}
