import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process that runs while the test goes on (the pgbackup daemon, say): signal it,
/// kill it, wait for it, read what it printed. Killed and reaped on `deinit` if still running.
public final class BackgroundProcess: Sendable {
    public let pid: pid_t
    public let command: String
    private let scratch: String
    private let exitStatus = Mutex<ProcessResult?>(nil)

    /// Starts `executable` (an absolute path) with exactly `environment`.
    public init(_ executable: String, _ arguments: [String], environment: [String: String]) throws {
        command = ([executable] + arguments).joined(separator: " ")
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("pgbackup-bg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: scratch + "/stdin", contents: Data()) else {
            throw ProcessError.launchFailed(command: command, reason: "unable to create \(scratch)/stdin")
        }
        pid = try spawn(executable, arguments: arguments, environment: environment, stdin: scratch + "/stdin",
                        stdout: scratch + "/stdout", stderr: scratch + "/stderr", directory: nil, command: command)
    }

    deinit {
        if exitStatus.withLock({ $0 == nil }) {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    /// What it has printed so far.
    public var standardOutput: String { (try? String(contentsOfFile: scratch + "/stdout", encoding: .utf8)) ?? "" }
    public var standardError: String { (try? String(contentsOfFile: scratch + "/stderr", encoding: .utf8)) ?? "" }

    /// Sends `signal` (e.g. SIGTERM for a graceful stop, SIGKILL for a crash).
    public func send(_ signal: Int32) {
        if exitStatus.withLock({ $0 == nil }) { kill(pid, signal) }
    }

    /// Whether it is still running.
    public var isRunning: Bool { poll() == nil }

    /// Waits for it to end; throws `ProcessError.timedOut` (leaving it running) after `timeout`.
    @discardableResult
    public func wait(timeout: Duration = .seconds(60)) async throws -> ProcessResult {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let result = poll() { return result }
            if ContinuousClock.now >= deadline {
                throw ProcessError.timedOut(command: command, after: timeout, stdoutTail: tail(standardOutput), stderrTail: tail(standardError))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    private func poll() -> ProcessResult? {
        exitStatus.withLock { result in
            if let result { return result }
            var status: Int32 = 0
            guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
            let signal = status & 0x7F
            result = ProcessResult(
                command: command, status: signal == 0 ? (status >> 8) & 0xFF : signal, terminatedBySignal: signal != 0,
                standardOutputData: Data(standardOutput.utf8), standardErrorData: Data(standardError.utf8))
            return result
        }
    }
}
