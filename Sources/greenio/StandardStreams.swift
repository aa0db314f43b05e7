import GreenIO
import Glibc

/// Access to the process's standard streams for the `greenio` commands.
///
/// Standard input and output may be regular files or terminals, which epoll cannot watch, so the
/// blocking reads and writes run on a helper thread (`Hub.offload`) and the hub keeps running.
/// Messages to standard error are short and written directly, one `write` per line.
enum StandardStreams {
    /// Writes `text` and a newline to standard output at once (no stdio buffering).
    static func printLine(_ text: String) {
        writeDirectly(1, text + "\n")
    }

    /// Writes `text` and a newline to standard error (log lines and error messages).
    static func printError(_ text: String) {
        writeDirectly(2, text + "\n")
    }

    private static func writeDirectly(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = valueOrErrno(retryOnInterrupt: true) {
                    Glibc.write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
                }
                // Nowhere to report a failure to write a message.
                guard case .success(let count) = written, count > 0 else { return }
                offset += count
            }
        }
    }

    /// Reads at most `buffer.count` bytes of standard input on a helper thread.
    ///
    /// - Returns: the number of bytes read; 0 at end of input.
    /// - Throws: `IOError` `.system` if `read` fails.
    static func readInput(into buffer: UnsafeMutableRawBufferPointer) async throws -> Int {
        let target = UncheckedBuffer(bytes: buffer)
        let result = await Hub.offload {
            valueOrErrno(retryOnInterrupt: true) { Glibc.read(0, target.bytes.baseAddress, target.bytes.count) }
        }
        switch result {
        case .success(let count): return count
        case .failure(let error): throw IOError.system(error)
        }
    }

    /// Writes all of `bytes` to standard output on a helper thread.
    /// - Throws: `IOError` `.system` if `write` fails (`EPIPE` when the reader has gone).
    static func writeOutput(_ bytes: UnsafeRawBufferPointer) async throws {
        let source = UncheckedBuffer(bytes: UnsafeMutableRawBufferPointer(mutating: bytes))
        let failure = await Hub.offload { () -> Errno? in
            var offset = 0
            while offset < source.bytes.count {
                switch valueOrErrno(retryOnInterrupt: true, {
                    Glibc.write(1, source.bytes.baseAddress.map { $0 + offset }, source.bytes.count - offset)
                }) {
                case .success(let count): offset += count
                case .failure(let error): return error
                }
            }
            return nil
        }
        if let failure { throw IOError.system(failure) }
    }
}

/// A buffer handed to a helper thread while its owner waits for the result.
///
/// Safe because the owner awaits the helper and does not touch the buffer meanwhile.
private struct UncheckedBuffer: @unchecked Sendable {
    let bytes: UnsafeMutableRawBufferPointer
}
