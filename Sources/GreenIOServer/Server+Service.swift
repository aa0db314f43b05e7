import ServiceLifecycle

extension Server: Service {
    /// Runs the server as a swift-service-lifecycle `Service`: starts it (unless started), serves
    /// until the group's graceful shutdown (then drains as `stop()` does) or until the task is
    /// cancelled (then stops without a drain period), and returns once every connection has
    /// closed. The `ServiceGroup` handles the signals; this method installs none.
    /// - Throws: `ServerError` if the server cannot start, or the failure that stopped it.
    public func run() async throws {
        if isIdle { try start() }
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await waitUntilStopped()
            } onCancel: {
                self.stop(drainPeriod: .zero)
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }
}
