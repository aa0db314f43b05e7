import GreenIO

extension RawSocketConformance.Check {
    /// Runs this check with `probe`.
    func body(_ probe: ConformanceProbe) async throws {
        switch self {
        case .roundTrip: try await probe.checkRoundTrip()
        case .partialSends: try await probe.checkPartialSends()
        case .wouldBlockDirection: try await probe.checkWouldBlockDirection()
        case .blockingMode: try await probe.checkBlockingMode()
        case .timeoutMode: try await probe.checkTimeoutMode()
        case .nonBlockingMode: try await probe.checkNonBlockingMode()
        case .deadlines: try await probe.checkDeadlines()
        case .halfClose: try await probe.checkHalfClose()
        case .closeWakesWaiter: try await probe.checkCloseWakesWaiter()
        case .endOfStream: try await probe.checkEndOfStream()
        case .zeroLength: try await probe.checkZeroLength()
        case .fileReferences: try await probe.checkFileReferences()
        case .randomChunking: try await probe.checkRandomChunking()
        }
    }
}
