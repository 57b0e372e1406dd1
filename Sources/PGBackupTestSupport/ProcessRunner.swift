import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What a finished child process left behind.
public struct ProcessResult: Sendable {
    /// The command as run, for messages (executable and arguments, space-separated).
    public var command: String
    /// The exit status, or the signal number when `terminatedBySignal`.
    public var status: Int32
    public var terminatedBySignal: Bool
    public var standardOutputData: Data
    public var standardErrorData: Data
    /// The child's peak resident set size (its `VmHWM`), in bytes, as last read while it ran
    /// (every 20 ms at most; `wait4`'s `ru_maxrss` would not do: a spawned child inherits the
    /// high-water mark of the test process it was spawned from). 0 when never read.
    public var peakResidentBytes: Int64 = 0

    public var standardOutput: String { String(decoding: standardOutputData, as: UTF8.self) }
    public var standardError: String { String(decoding: standardErrorData, as: UTF8.self) }
    public var succeeded: Bool { status == 0 && !terminatedBySignal }

    /// Throws `ProcessError.failed` unless the process exited with status 0.
    @discardableResult
    public func checked() throws -> ProcessResult {
        guard succeeded else { throw ProcessError.failed(self) }
        return self
    }
}

public enum ProcessError: Error, CustomStringConvertible {
    case launchFailed(command: String, reason: String)
    case timedOut(command: String, after: Duration, stdoutTail: String, stderrTail: String)
    case failed(ProcessResult)

    public var description: String {
        switch self {
        case let .launchFailed(command, reason):
            return "unable to launch '\(command)': \(reason)"
        case let .timedOut(command, after, stdoutTail, stderrTail):
            return "'\(command)' did not finish within \(after) and was killed\n--- stdout (tail) ---\n\(stdoutTail)\n--- stderr (tail) ---\n\(stderrTail)"
        case let .failed(result):
            let how = result.terminatedBySignal ? "was killed by signal \(result.status)" : "exited with status \(result.status)"
            return "'\(result.command)' \(how)\n--- stdout (tail) ---\n\(tail(result.standardOutput))\n--- stderr (tail) ---\n\(tail(result.standardError))"
        }
    }
}

/// The last `lines` lines of `text`.
func tail(_ text: String, lines: Int = 30) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
}

/// Runs `executable` with `arguments` and waits for it, without a shell.
///
/// Built on `posix_spawn` and `waitpid`, not Foundation's `Process`: on Linux `Process` learns
/// that a child ended from a socket that the child inherits, so a daemon the child leaves behind
/// (`pg_ctl start` leaves the postmaster) keeps it open and the wait never ends. Here the child
/// inherits only its standard input, output and error, and we wait for its pid.
///
/// Output goes to temporary files rather than pipes: a child that writes a lot never blocks on a
/// full pipe, and a daemon it leaves behind cannot hold a pipe open.
///
/// - Parameters:
///   - environment: the child's whole environment; nil inherits ours.
///   - standardInput: bytes fed to the child's standard input (empty input when nil).
///   - currentDirectory: the child's working directory; nil inherits ours.
///   - timeout: the child gets SIGTERM after this long, SIGKILL two seconds later, and the call
///     throws `ProcessError.timedOut`. Cancelling the calling task does the same and throws
///     `CancellationError`.
/// - Returns: the result whatever the exit status; call `checked()` to insist on success.
public func runProcess(
    _ executable: String,
    _ arguments: [String] = [],
    environment: [String: String]? = nil,
    standardInput: Data? = nil,
    currentDirectory: String? = nil,
    timeout: Duration = .seconds(120)
) async throws -> ProcessResult {
    let command = ([executable] + arguments).joined(separator: " ")
    let scratch = FileManager.default.temporaryDirectory
        .appendingPathComponent("pgbackup-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outPath = scratch.appendingPathComponent("stdout").path
    let errPath = scratch.appendingPathComponent("stderr").path
    let inPath = scratch.appendingPathComponent("stdin").path
    try (standardInput ?? Data()).write(to: URL(fileURLWithPath: inPath))

    let pid = try spawn(
        executable, arguments: arguments,
        environment: environment ?? ProcessInfo.processInfo.environment,
        stdin: inPath, stdout: outPath, stderr: errPath, directory: currentDirectory, command: command)

    // Poll rather than block a thread of the cooperative pool in waitpid.
    let deadline = ContinuousClock.now + timeout
    var interval = Duration.milliseconds(1)
    var waitStatus: Int32 = 0
    var timedOut = false
    var cancelled = false
    var peakResident: Int64 = 0
    while true {
        peakResident = max(peakResident, residentHighWater(of: pid))
        let reaped = waitpid(pid, &waitStatus, WNOHANG)
        if reaped == pid || (reaped == -1 && errno != EINTR) { break }
        if Task.isCancelled || ContinuousClock.now >= deadline {
            cancelled = Task.isCancelled
            timedOut = !cancelled
            // The child is not reaped yet, so `pid` cannot have been reused.
            kill(pid, SIGTERM)
            let grace = ContinuousClock.now + .seconds(2)
            while waitpid(pid, &waitStatus, WNOHANG) == 0 {
                if ContinuousClock.now >= grace {
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, &waitStatus, 0)
                    break
                }
                usleep(10_000)
            }
            break
        }
        try? await Task.sleep(for: interval)
        interval = min(interval * 2, .milliseconds(20))
    }

    let stdoutData = FileManager.default.contents(atPath: outPath) ?? Data()
    let stderrData = FileManager.default.contents(atPath: errPath) ?? Data()
    if cancelled { throw CancellationError() }
    if timedOut {
        throw ProcessError.timedOut(
            command: command, after: timeout,
            stdoutTail: tail(String(decoding: stdoutData, as: UTF8.self)),
            stderrTail: tail(String(decoding: stderrData, as: UTF8.self)))
    }
    // waitpid's status word: low 7 bits are the terminating signal (0 for a normal exit), the
    // next byte the exit code (the WIFEXITED/WEXITSTATUS macros, which Swift cannot import).
    let signal = waitStatus & 0x7F
    return ProcessResult(
        command: command,
        status: signal == 0 ? (waitStatus >> 8) & 0xFF : signal,
        terminatedBySignal: signal != 0,
        standardOutputData: stdoutData, standardErrorData: stderrData,
        peakResidentBytes: peakResident)
}

/// `VmHWM` of a running process, in bytes; 0 when it cannot be read.
private func residentHighWater(of pid: pid_t) -> Int64 {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kilobytes = Int64(line.dropFirst("VmHWM:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    else { return 0 }
    return kilobytes * 1024
}

/// posix_spawn with stdin/stdout/stderr redirected to files, every other descriptor closed in the
/// child, SIGPIPE back to its default and no blocked signals.
func spawn(
    _ executable: String, arguments: [String], environment: [String: String],
    stdin: String, stdout: String, stderr: String, directory: String?, command: String
) throws -> pid_t {
    func failure(_ what: String, _ code: Int32) -> ProcessError {
        .launchFailed(command: command, reason: "\(what): \(String(cString: strerror(code)))")
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard let closeFrom = GNUSpawnActions.closeFrom, let changeDirectory = GNUSpawnActions.changeDirectory else {
        throw ProcessError.launchFailed(
            command: command, reason: "glibc lacks posix_spawn_file_actions_addclosefrom_np/addchdir_np (needs glibc 2.34)")
    }
    _ = closeFrom(&actions, 3)
    if let directory { _ = changeDirectory(&actions, directory) }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var defaults = sigset_t()
    sigemptyset(&defaults)
    sigaddset(&defaults, SIGPIPE)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var mask = sigset_t()
    sigemptyset(&mask)
    posix_spawnattr_setsigmask(&attributes, &mask)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
    guard status == 0 else { throw failure("posix_spawn", status) }
    return pid
}

/// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34) and `…_addchdir_np` (2.29): GNU
/// extensions that Swift's Glibc module does not import, looked up at run time instead.
private enum GNUSpawnActions {
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32

    static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np")
        .map { unsafeBitCast($0, to: CloseFrom.self) }
    static let changeDirectory: ChangeDirectory? = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
        .map { unsafeBitCast($0, to: ChangeDirectory.self) }
}
