import GreenIO

extension RawSocketConformance {
    /// The outcome of one check.
    public struct CheckResult: Sendable, CustomStringConvertible {
        /// The check.
        public let check: Check
        /// What went wrong, one message per failed expectation; empty when the check passed.
        public let failures: [String]
        /// How long the check took.
        public let duration: Duration

        /// True when nothing went wrong.
        public var passed: Bool { failures.isEmpty }

        /// "✔ name", or "✘ name: " and the failure messages.
        public var description: String {
            passed ? "✔ \(check)" : "✘ \(check): " + failures.joined(separator: "; ")
        }
    }

    /// The outcome of a run: one result per check, in the order run.
    public struct Report: Sendable, CustomStringConvertible {
        /// Every check's result.
        public let results: [CheckResult]

        /// True when every check passed.
        public var passed: Bool { results.allSatisfy(\.passed) }

        /// The checks that failed, in the order run (`[]` when all passed): what a test compares
        /// with what it expects.
        public var failedChecks: [Check] { results.filter { !$0.passed }.map(\.check) }

        /// The result of `check`, if it ran.
        public func result(for check: Check) -> CheckResult? { results.first { $0.check == check } }

        /// One line per check, failures with their messages.
        public var description: String { results.map(\.description).joined(separator: "\n") }
    }
}
