import ArgumentParser

struct GreenIOCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "greenio",
        abstract: "Line servers and clients on GreenIO's green threads.",
        subcommands: [PingPong.self])
}

GreenIOCommand.main()
