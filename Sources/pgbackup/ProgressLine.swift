import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `--progress` line on standard error, rewritten in place; silent unless it was asked for
/// and standard error is a terminal.
struct ProgressLine: Sendable {
    let enabled: Bool

    init(requested: Bool) {
        enabled = requested && isatty(STDERR_FILENO) == 1
    }

    func show(_ text: String) {
        guard enabled else { return }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
    }

    func clear() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    /// A byte-transfer handler (`restore`, `follow`) that shows `transfer(…)` timed from now;
    /// nil when the line is off.
    func transferHandler() -> (@Sendable (_ done: Int64, _ total: Int64) -> Void)? {
        guard enabled else { return nil }
        let started = ContinuousClock.now
        return { done, total in
            let elapsed = ContinuousClock.now - started
            let seconds = elapsed.inSeconds
            show(Self.transfer(done: done, total: total, seconds: seconds))
        }
    }

    /// `12.0 MiB of 96.0 MiB (12%), 40.0 MiB/s, 2.1 s left`.
    static func transfer(done: Int64, total: Int64?, seconds: Double, showTimeLeft: Bool = true) -> String {
        var text = Formatting.bytes(done)
        if let total {
            let percent = min(100, Int(Double(done) * 100 / Double(max(total, 1))))
            text += " of \(Formatting.bytes(total)) (\(percent)%)"
        }
        let rate = seconds > 0 ? Double(done) / seconds : 0
        text += ", \(Formatting.bytes(Int64(rate)))/s"
        if showTimeLeft, let total, rate > 0 {
            text += ", \(Formatting.duration(max(0, Double(total - done) / rate))) left"
        }
        return text
    }
}
