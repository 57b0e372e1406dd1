import Foundation
import PGBackupFoundations
import PGBackupServices

/// The daemon at one instant, as the endpoint shows it: the streamer, the shared state and the
/// health monitor's last results, combined into `/health`'s report.
struct DaemonView: Sendable {
    var streamer: WALStreamerStatus
    var state: DaemonState.Snapshot
    var observations: HealthMonitor.Observations
    var slot: String
    var checkInterval: Duration

    /// Bytes received from the server but not yet in the repository.
    var lagBytes: Int64? {
        guard let received = streamer.received, let archived = streamer.archived else { return nil }
        return received > archived ? Int64(received - archived) : 0
    }

    /// `check --json`'s report from the last round, plus the daemon's own live check: WAL streams
    /// from a primary. Before the first round: that the checks have not run yet.
    var report: CheckReport {
        var checks = observations.report?.checks ?? [
            CheckResult(name: "checks", ok: false, detail: "the first checks are still running (they run every \(checkInterval))"),
        ]
        checks.append(daemonCheck)
        return CheckReport(checks: checks)
    }

    var healthy: Bool { report.healthy }

    private var daemonCheck: CheckResult {
        guard streamer.streaming, let server = streamer.server else {
            let last = streamer.server.map { " (last primary: \($0))" } ?? ""
            return CheckResult(name: "daemon", ok: false, detail: "not streaming WAL from a primary\(last); it reconnects with backoff, see the primary check and the daemon's log")
        }
        var detail = "streaming WAL from \(server) into slot '\(slot)'"
        if let timeline = streamer.timeline { detail += " on timeline \(timeline)" }
        if let archived = streamer.archived { detail += "; the repository holds WAL up to \(archived)" }
        if let reportTime = observations.reportTime {
            detail += "; checks from \(ISO8601DateFormatter().string(from: reportTime))"
        }
        return CheckResult(name: "daemon", ok: true, detail: detail)
    }
}
