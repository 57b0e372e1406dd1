import Foundation
import Testing
@testable import PGBackupDaemon
import PGBackupFoundations
import PGBackupServices

@Suite("daemon endpoint: metrics, status and health from the daemon's state")
struct DaemonEndpointTests {
    func view(_ state: DaemonState, streaming: Bool = true, report: CheckReport? = nil) -> DaemonView {
        var stream = WALStreamerStatus()
        stream.streaming = streaming
        stream.server = "db1:5432"
        stream.timeline = TimelineID(3)
        stream.received = LSN(0x3000_0000)
        stream.archived = LSN(0x2F00_0000)
        stream.segmentsArchived = 7
        stream.gapsRecorded = 1
        var observations = HealthMonitor.Observations()
        observations.report = report
        observations.reportTime = report == nil ? nil : Date()
        return DaemonView(streamer: stream, state: state.snapshot, observations: observations, slot: "pgbackup", checkInterval: .seconds(15))
    }

    /// The value of the sample line `name{labels}` in exposition text.
    func sample(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix + "{") || $0.hasPrefix(prefix + " ") }
            .flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    @Test func jobRecordsAndErrorsBecomeMetricsAndCountersNeverCountTwice() {
        let state = DaemonState(server: "main")
        let end = Date(timeIntervalSince1970: 1_800_000_000)
        state.updateJob(.backup) {
            $0.lastSuccess = end
            $0.lastFailure = end - 3600
            $0.lastDurationSeconds = 42.5
            $0.lastStoredBytes = 1_234_567
        }
        state.countError("backup")
        state.countError("backup")
        let metrics = DaemonMetrics(server: "main")
        let first = metrics.render(view(state))
        #expect(sample(first, "pgbackup_backup_last_success_timestamp_seconds") == 1_800_000_000)
        #expect(abs((sample(first, "pgbackup_backup_last_failure_timestamp_seconds") ?? 0) - (1_800_000_000 - 3600)) < 0.001)
        #expect(sample(first, "pgbackup_backup_last_duration_seconds") == 42.5)
        #expect(sample(first, "pgbackup_backup_last_stored_bytes") == 1_234_567)
        #expect(sample(first, "pgbackup_timeline") == 3 && sample(first, "pgbackup_wal_lag_bytes") == Double(0x0100_0000))
        #expect(sample(first, "pgbackup_wal_segments_archived_total") == 7 && sample(first, "pgbackup_wal_gaps_total") == 1)
        #expect(first.contains("pgbackup_errors_total{server=\"main\",operation=\"backup\"} 2")
                || first.contains("pgbackup_errors_total{operation=\"backup\",server=\"main\"} 2"), "\(first)")
        #expect(first.contains("# TYPE pgbackup_wal_gaps_total counter") && first.contains("# TYPE pgbackup_up gauge"))
        // A second scrape with one more error: the counter says 3, not 5.
        state.countError("backup")
        let second = metrics.render(view(state))
        #expect(second.contains("operation=\"backup\"") && sample(second, "pgbackup_errors_total") == 3, "\(second)")
        #expect(sample(second, "pgbackup_wal_segments_archived_total") == 7)
    }

    @Test func theNewestBackupsChecksumFailuresAreAGauge() {
        let metrics = DaemonMetrics(server: "main")
        let state = DaemonState(server: "main")
        var damaged = view(state)
        #expect(sample(metrics.render(damaged), "pgbackup_backup_last_checksum_failures") == 0)
        damaged.observations.survey = HealthMonitor.RepositorySurvey(
            backups: 2, newestBackupStop: Date(), newestBackupID: "20261207T101500Z", newestBackupChecksumFailures: 8,
            recoveryWindowStart: nil, repositoryBytes: 1, lastVerification: nil, lastVerificationSuccess: nil)
        let text = metrics.render(damaged)
        #expect(sample(text, "pgbackup_backup_last_checksum_failures") == 8, "\(text)")
        #expect(text.contains("# TYPE pgbackup_backup_last_checksum_failures gauge"))
        #expect(text.contains(#"pgbackup_backup_last_checksum_failures{server="main"} 8"#), "\(text)")
    }

    @Test func statusShowsTheJobsNextRunsAndHealthCombinesTheChecksWithTheStream() throws {
        let state = DaemonState(server: "main")
        let next = Date(timeIntervalSince1970: 1_800_000_600)
        state.updateJob(.verifyRestore) { $0.nextRun = next; $0.runs = 2 }
        let passing = CheckReport(checks: [CheckResult(name: "primary", ok: true, detail: "fine")])
        let json = try StatusDocument(view(state, report: passing)).json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let job = try #require((object["jobs"] as? [String: Any])?["verify_restore"] as? [String: Any], "\(json)")
        #expect(job["runs"] as? Int == 2 && job["next_run"] as? String == "2027-01-15T08:10:00Z", "\(json)")
        #expect(object["primary_host"] as? String == "db1:5432" && object["healthy"] as? Bool == true, "\(json)")

        #expect(view(state, report: passing).report.healthy)
        let notStreaming = view(state, streaming: false, report: passing).report
        #expect(!notStreaming.healthy && notStreaming.checks.last?.name == "daemon")
        // Before the first round: unhealthy, saying so.
        let first = view(state, report: nil).report
        #expect(!first.healthy && first.checks.first?.detail.contains("still running") == true)
    }

    @Test func listenAddresses() {
        #expect(HTTPListenAddress(parsing: "0.0.0.0:9187") == HTTPListenAddress(parsing: "0.0.0.0:9187"))
        #expect(HTTPListenAddress(parsing: "127.0.0.1:9187")?.port == 9187)
        #expect(HTTPListenAddress(parsing: "[::1]:80")?.host == "::1")
        #expect(HTTPListenAddress(parsing: "pgbackup.internal:8080")?.description == "pgbackup.internal:8080")
        for bad in ["9187", ":9187", "host:", "host:0", "host:65536", "::1:80", "[::1]80", "a b:1", "host:+80", "host:８０"] {
            #expect(HTTPListenAddress(parsing: bad) == nil, "\(bad)")
        }
    }
}
