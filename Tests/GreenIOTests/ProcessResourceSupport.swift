import Glibc
import Testing
@testable import GreenIO

// Reading a process's resource use from /proc (descriptors, CPU time, resident memory, limits),
// for the resource-exhaustion and leak suites. Every reader takes a pid (nil: this process) and
// returns nil when the process has gone, so a crashed server fails a test instead of trapping.

/// The parent of the suites that measure descriptors, memory or time: serialized, so that the
/// 10,000-connection run never overlaps the leak checks (which count this process's descriptors).
/// Other suites of the target still run in parallel with them; see `DescriptorBalance`.
@Suite("Resource usage", .serialized)
enum ResourceUsageTests {}

/// The descriptor numbers open in process `pid` (this process when nil): the entries of
/// /proc/PID/fd, without the descriptor the listing itself uses. Nil if the directory cannot be read.
func openFileDescriptors(pid: pid_t? = nil) -> [Int32]? {
    guard let directory = opendir(pid.map { "/proc/\($0)/fd" } ?? "/proc/self/fd") else { return nil }
    defer { closedir(directory) }
    let own = pid == nil ? dirfd(directory) : -1
    var numbers: [Int32] = []
    while let entry = readdir(directory) {
        let name = withUnsafePointer(to: &entry.pointee.d_name) {
            String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self))
        }
        if let number = Int32(name), number != own { numbers.append(number) }
    }
    return numbers
}

/// How many descriptors process `pid` (this process when nil) has open; nil if it has gone.
func openFileDescriptorCount(pid: pid_t? = nil) -> Int? {
    openFileDescriptors(pid: pid)?.count
}

/// What descriptor `fd` of this process refers to ("socket:[123]", "anon_inode:[eventpoll]", …),
/// for failure messages.
func descriptorTarget(_ fd: Int32) -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    let length = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
    guard length > 0 else { return "?" }
    return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// User plus system CPU time consumed so far by process `pid` (all its threads), in seconds;
/// fields 14 and 15 of /proc/PID/stat. Nil if the process has gone.
func processCPUSeconds(pid: pid_t) -> Double? {
    // The command name (field 2) is in parentheses and may contain spaces: count from the last ")".
    guard let stat = readTextFile("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return nil }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    // fields[0] is field 3 (state), so field N is fields[N - 3].
    guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

/// A `Key:   value …` line of /proc/PID/status (this process when nil), e.g. "VmRSS".
func statusField(_ key: String, pid: pid_t?) -> Substring? {
    guard let status = readTextFile(pid.map { "/proc/\($0)/status" } ?? "/proc/self/status") else { return nil }
    let line = status.split(separator: "\n").first { $0.hasPrefix(key + ":") }
    return line?.dropFirst(key.count + 1)
}

/// Resident memory of process `pid` (VmRSS), in KiB; nil if it has gone.
func residentKiB(pid: pid_t) -> Int? {
    statusField("VmRSS", pid: pid).flatMap { Int($0.split(whereSeparator: \.isWhitespace).first ?? "") }
}

/// Process `pid`'s soft limit on open descriptors, from /proc/PID/limits; nil if it has gone.
func softFileLimit(pid: pid_t) -> Int? {
    guard let limits = readTextFile("/proc/\(pid)/limits"),
          let line = limits.split(separator: "\n").first(where: { $0.hasPrefix("Max open files") }) else { return nil }
    return Int(line.dropFirst("Max open files".count).split(whereSeparator: \.isWhitespace).first ?? "")
}

/// Raises this process's soft limit on open descriptors to its hard limit (children inherit it);
/// returns the limits now in force.
func raiseFileLimitToHard() -> (soft: Int, hard: Int) {
    var limit = rlimit()
    let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
    guard getrlimit(resource, &limit) == 0 else { return (0, 0) }
    if limit.rlim_cur < limit.rlim_max {
        var raised = limit
        raised.rlim_cur = limit.rlim_max
        if setrlimit(resource, &raised) == 0 { limit = raised }
    }
    let clamp = { (value: rlim_t) in value == rlim_t.max ? Int.max : Int(clamping: value) }
    return (clamp(limit.rlim_cur), clamp(limit.rlim_max))
}

/// Starts `greenio serve --port 0 OPTIONS` with both its descriptor limits set to `fileLimit`.
/// `posix_spawn` cannot set limits, so a shell sets them (`ulimit -n`) and then execs the server:
/// the child's pid is the server's. A limit the shell cannot set ends the child before its start
/// line, which `listeningPort()` reports with the shell's message.
func startServer(_ options: [String] = [], fileLimit: Int) throws -> ChildProcess {
    try ChildProcess(["-c", "ulimit -n \"$1\" && shift && exec \"$@\"", "sh", "\(fileLimit)",
                      greenioExecutable, "serve", "--port", "0"] + options, executable: "/bin/sh")
}

extension ChildProcess {
    /// How many descriptors the child has open; throws if it has gone.
    func openDescriptorCount() throws -> Int {
        guard let count = openFileDescriptorCount(pid: pid) else {
            throw ChildProcessError(description: "process \(pid) has gone; stderr: \(errorText().suffix(2000))")
        }
        return count
    }

    /// Waits (polling on a hub) until the child has exactly `count` descriptors open; returns how
    /// long that took.
    /// - Throws: `ChildProcessError` with the last count seen if it has not happened by `deadline`.
    @discardableResult
    func waitForDescriptorCount(_ count: Int, deadline: Deadline) async throws -> Double {
        let start = Deadline.now
        while true {
            let now = try openDescriptorCount()
            if now == count { return seconds(since: start) }
            if deadline.hasPassed {
                throw ChildProcessError(description: "process \(pid) has \(now) descriptors open, expected \(count)")
            }
            try await Hub.sleep(for: .milliseconds(20))
        }
    }

    /// Lines of the child's standard error that contain `text`.
    func errorLines(containing text: String) -> [Substring] {
        errorText().split(separator: "\n").filter { $0.contains(text) }
    }

    /// Waits (polling on a hub) until exactly `count` lines of the child's standard error contain
    /// `text`. A server closes a connection's socket before it logs the close, so its descriptor
    /// count can come back before the log line does.
    /// - Throws: `ChildProcessError` with the last count seen if it has not happened by `deadline`.
    func waitForErrorLines(containing text: String, count: Int, deadline: Deadline) async throws {
        while true {
            let now = errorLines(containing: text).count
            if now == count { return }
            if deadline.hasPassed {
                throw ChildProcessError(description: "\(now) lines of stderr contain \"\(text)\", expected \(count)")
            }
            try await Hub.sleep(for: .milliseconds(50))
        }
    }
}
