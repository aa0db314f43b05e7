import ArgumentParser

/// The options every measuring subcommand shares: how long each run lasts and how many runs.
struct MeasurementOptions: ParsableArguments {
    @Option(name: .long, help: "Seconds to measure for each run.")
    var secs: Double = 2

    @Option(name: .long, help: "Number of runs; the median is reported.")
    var runs: Int = 3

    func validate() throws {
        guard secs > 0, secs <= 3600 else { throw ValidationError("--secs must be in (0, 3600]") }
        guard runs >= 1, runs <= 100 else { throw ValidationError("--runs must be in 1...100") }
    }

    /// The median of `values` (the upper one for an even count).
    static func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
}
