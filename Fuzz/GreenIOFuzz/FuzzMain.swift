import Glibc
import GreenIO

// The fuzzer's entry points. SwiftPM links an executable target with `main` aliased to
// `GreenIOFuzz_main`, so libFuzzer's own `main` cannot be used: this one hands control to
// libFuzzer's driver instead (`LLVMFuzzerRunDriver`, the documented entry for that case).

@_extern(c, "LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// The fuzz targets, chosen by `GREENIO_FUZZ_TARGET` (default `reader`).
enum FuzzTarget: String, CaseIterable {
    case reader, text, resp, proxy

    /// The target named by the environment; exits with a message for an unknown name.
    static let selected: FuzzTarget = {
        guard let name = getenv("GREENIO_FUZZ_TARGET").map({ String(cString: $0) }) else { return .reader }
        guard let target = FuzzTarget(rawValue: name) else {
            print("GREENIO_FUZZ_TARGET must be one of \(allCases.map(\.rawValue))")
            exit(2)
        }
        return target
    }()

    /// Runs one input to the end on a fresh hub (the file objects are async; the scripted socket
    /// never parks, so the run is one synchronous pass).
    func run(_ bytes: [UInt8]) {
        do {
            try Hub.run {
                var input = FuzzInput(bytes)
                switch self {
                case .reader:
                    var target = try ReaderTarget(&input)
                    try await target.run()
                case .text:
                    var target = try TextTarget(&input)
                    try await target.run()
                case .resp:
                    try await RESPTarget(&input).run()
                case .proxy:
                    ProxyTarget(&input).run()
                }
            }
        } catch {
            // Every expected error is handled inside the targets: anything else is a finding.
            fatalError("unexpected error: \(error)")
        }
    }
}

@_cdecl("GreenIOFuzz_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    _ = FuzzTarget.selected
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in
        FuzzTarget.selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
        return 0
    }
}
