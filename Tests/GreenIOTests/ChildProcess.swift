import Glibc
import Synchronization
import Testing
@testable import GreenIO

/// The `greenio` executable built next to the test bundle (`swift test` builds it because the
/// test target depends on it).
let greenioExecutable: String = {
    var path = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let length = readlink("/proc/self/exe", &path, path.count - 1)
    let exe = length > 0 ? String(decoding: path[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
    let directory = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    return directory + "/greenio"
}()

/// The error a child-process helper throws.
struct ChildProcessError: Error, CustomStringConvertible {
    let description: String
}

/// A child process started with `posix_spawn` for CLI tests: standard input from a pipe (or
/// `/dev/null`), standard output to a pipe read in a green thread, standard error to a temporary
/// file.
///
/// The pipes are non-blocking on our side and close-on-exec, so that children started by tests
/// running in parallel never inherit them; the child gets no other descriptor of ours. Call
/// `terminate()` when done (a `defer` right after creating it): it kills the child if still
/// running and reaps it.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    private var inputFD: Int32
    private var outputFD: Int32
    private let errorPath: String
    private var status: Int32?
    private var outputBuffer: [UInt8] = []

    /// Writing to the input pipe of a child that has already exited raises SIGPIPE, which would end
    /// the whole test run; the tests want the `EPIPE` error instead. Runs once.
    private static let ignoreBrokenPipes: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    /// Starts `executable` with `arguments`.
    /// - Parameter pipeInput: give the child a pipe as standard input (see `writeInput`,
    ///   `closeInput`); otherwise it reads `/dev/null`.
    init(_ arguments: [String], executable: String = greenioExecutable, pipeInput: Bool = false) throws {
        ChildProcess.ignoreBrokenPipes
        var template = Array("/tmp/greenio-test-stderr-XXXXXX".utf8CString)
        let errorFD = mkstemp(&template)
        guard errorFD >= 0 else { throw ChildProcessError(description: "mkstemp failed") }
        Glibc.close(errorFD)
        errorPath = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)

        // pipe2(O_CLOEXEC) is not visible from Swift: make the pipes and spawn under one lock, so
        // that a child started by a test running in parallel cannot inherit our pipe ends.
        let path = errorPath
        let (child, output, input) = try Self.spawnLock.withLock { _ in
            try Self.spawn([executable] + arguments, pipeInput: pipeInput, errorPath: path)
        }
        pid = child
        outputFD = output
        inputFD = input
        for fd in [outputFD, inputFD] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    private static let spawnLock = Mutex(())

    /// Makes a close-on-exec pipe; returns (read end, write end).
    private static func makePipe() throws -> (Int32, Int32) {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw ChildProcessError(description: "pipe failed: \(Errno.current)") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Marks every descriptor above standard error close-on-exec, so that the child gets only 0, 1
    /// and 2. The test process inherits descriptors that are not (sockets from `swift test`);
    /// a child would otherwise hold them, counting against its descriptor limit and showing in its
    /// /proc/PID/fd. (`posix_spawn_file_actions_addclosefrom_np` is not visible from Swift.)
    private static func markDescriptorsCloseOnExec() {
        for fd in openFileDescriptors() ?? [] where fd > 2 {
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// Starts the child; returns its pid, our read end of its stdout and our write end of its
    /// stdin (-1 unless `pipeInput`).
    private static func spawn(_ argumentVector: [String], pipeInput: Bool,
                              errorPath: String) throws -> (pid_t, Int32, Int32) {
        markDescriptorsCloseOnExec()
        let output = try makePipe()
        let input = pipeInput ? try makePipe() : (-1, -1)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if pipeInput {
            posix_spawn_file_actions_adddup2(&actions, input.0, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, output.1, 1)
        posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_TRUNC, 0)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = argumentVector.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child = pid_t()
        let result = posix_spawn(&child, argumentVector[0], &actions, &attributes, argv, environ)
        Glibc.close(output.1)
        if pipeInput { Glibc.close(input.0) }
        guard result == 0 else {
            Glibc.close(output.0)
            if pipeInput { Glibc.close(input.1) }
            unlink(errorPath)
            throw ChildProcessError(description: "posix_spawn \(argumentVector[0]) failed: \(Errno(rawValue: result))")
        }
        return (child, output.0, input.1)
    }

    deinit { terminate() }

    /// Sends `signal` to the child (if it has not been reaped).
    func send(_ signal: Int32) {
        if status == nil { kill(pid, signal) }
    }

    /// Kills the child if it still runs, reaps it, closes the pipes and removes the stderr file.
    /// Idempotent; callable from any thread.
    func terminate() {
        if status == nil {
            kill(pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            status = raw
        }
        closeInput()
        close(&outputFD)
        unlink(errorPath)
    }

    /// Closes our end of the child's standard input, so that the child sees its end.
    func closeInput() {
        close(&inputFD)
    }

    private func close(_ fd: inout Int32) {
        guard fd >= 0 else { return }
        Glibc.close(fd)
        fd = -1
    }

    /// Waits a little for a pipe to become ready. Pipes are polled rather than registered with
    /// the hub, so that closing them never has to reach a hub that may have stopped already.
    private func pause(until deadline: Deadline, _ what: String) async throws {
        if deadline.hasPassed { throw IOError.timedOut("timed out \(what); stderr: \(errorText())") }
        try await Hub.sleep(for: .milliseconds(5))
    }

    /// Reads standard output up to and including the next newline (without it in the result).
    /// - Throws: `IOError` `.timedOut` at `deadline`; `ChildProcessError` at end of output.
    func readLine(deadline: Deadline) async throws -> String {
        while true {
            if let newline = outputBuffer.firstIndex(of: 0x0A) {
                let line = String(decoding: outputBuffer[..<newline], as: UTF8.self)
                outputBuffer.removeSubrange(...newline)
                return line
            }
            guard try await readOutputChunk(deadline: deadline) else {
                throw ChildProcessError(description: "end of output before a line; stderr: \(errorText())")
            }
        }
    }

    /// Reads standard output to its end (the child has exited or closed it).
    /// - Throws: `IOError` `.timedOut` at `deadline`.
    func readAllOutput(deadline: Deadline) async throws -> [UInt8] {
        while try await readOutputChunk(deadline: deadline) {}
        defer { outputBuffer = [] }
        return outputBuffer
    }

    /// Appends one read of standard output to `outputBuffer`; false at its end.
    private func readOutputChunk(deadline: Deadline) async throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(outputFD, $0.baseAddress, $0.count) }
            if count > 0 {
                outputBuffer += chunk[..<count]
                return true
            }
            if count == 0 { return false }
            guard errno == EAGAIN || errno == EINTR else { throw IOError.system(.current) }
            try await pause(until: deadline, "reading the child's output")
        }
    }

    /// Writes all of `bytes` to the child's standard input.
    func writeInput(_ bytes: [UInt8], deadline: Deadline) async throws {
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { Glibc.write(inputFD, $0.baseAddress, $0.count) }
            if count >= 0 {
                offset += count
                continue
            }
            guard errno == EAGAIN || errno == EINTR else { throw IOError.system(.current) }
            try await pause(until: deadline, "writing the child's input")
        }
    }

    /// Waits (polling, on a hub) until the child exits; returns its exit code, or 128 + the
    /// signal number if a signal ended it.
    /// - Throws: `IOError` `.timedOut` if it is still running at `deadline`.
    func waitForExit(deadline: Deadline) async throws -> Int32 {
        while status == nil {
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = raw
            } else {
                try await pause(until: deadline, "waiting for the child to exit")
            }
        }
        let raw = status ?? 0
        let signal = raw & 0x7F
        return signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
    }

    /// What the child has written to standard error so far.
    func errorText() -> String {
        readTextFile(errorPath) ?? ""
    }
}

/// The whole content of the file at `path` as UTF-8 text (invalid bytes replaced); nil if it cannot
/// be opened.
func readTextFile(_ path: String) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = fread(&chunk, 1, chunk.count, file)
        if count <= 0 { break }
        bytes += chunk[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}
