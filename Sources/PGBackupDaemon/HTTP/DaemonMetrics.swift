import CoreMetrics
import Foundation
import Metrics
import PGBackupServices
import Prometheus
import Synchronization

/// `/metrics`: DESIGN.md's metric names (gauges unless `_total`, label `server`), recorded through
/// swift-metrics into swift-prometheus's registry, which writes the exposition format. Values are
/// set from the daemon's snapshots at each scrape (all in memory: a scrape never waits on I/O).
final class DaemonMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let factory: PrometheusMetricsFactory
    private let server: String
    private let gauges: [String: CoreMetrics.Gauge]
    private let counters: [String: CoreMetrics.Counter]
    /// What each counter (by name and operation) has been incremented to so far.
    private let published = Mutex<[String: Int]>([:])
    private let errorCounters = Mutex<[String: CoreMetrics.Counter]>([:])

    static let gaugeNames = [
        "pgbackup_up", "pgbackup_wal_streaming", "pgbackup_timeline", "pgbackup_wal_archived_lsn", "pgbackup_wal_lag_bytes",
        "pgbackup_wal_last_archived_timestamp_seconds", "pgbackup_slot_retained_bytes", "pgbackup_backups",
        "pgbackup_backup_last_success_timestamp_seconds", "pgbackup_backup_last_failure_timestamp_seconds",
        "pgbackup_backup_last_duration_seconds", "pgbackup_backup_last_stored_bytes", "pgbackup_backup_last_checksum_failures",
        "pgbackup_recovery_window_start_timestamp_seconds", "pgbackup_verification_last_success_timestamp_seconds",
        "pgbackup_verification_last_ok", "pgbackup_repository_bytes",
    ]
    static let counterNames = ["pgbackup_wal_segments_archived_total", "pgbackup_wal_gaps_total"]

    init(server: String) {
        self.server = server
        let factory = PrometheusMetricsFactory(registry: registry)
        self.factory = factory
        let dimensions = [("server", server)]
        gauges = Dictionary(uniqueKeysWithValues: Self.gaugeNames.map { ($0, CoreMetrics.Gauge(label: $0, dimensions: dimensions, factory: factory)) })
        counters = Dictionary(uniqueKeysWithValues: Self.counterNames.map { ($0, CoreMetrics.Counter(label: $0, dimensions: dimensions, factory: factory)) })
    }

    /// The exposition text for `view`.
    func render(_ view: DaemonView) -> String {
        let stream = view.streamer
        let survey = view.observations.survey
        let backup = view.state.jobs[.backup]
        func set(_ name: String, _ value: Double?) { gauges[name]?.record(value ?? 0) }
        func seconds(_ date: Date?) -> Double? { date?.timeIntervalSince1970 }
        set("pgbackup_up", view.healthy ? 1 : 0)
        set("pgbackup_wal_streaming", stream.streaming ? 1 : 0)
        set("pgbackup_timeline", stream.timeline.map { Double($0.rawValue) })
        set("pgbackup_wal_archived_lsn", stream.archived.map { Double($0.rawValue) })
        set("pgbackup_wal_lag_bytes", view.lagBytes.map(Double.init))
        set("pgbackup_wal_last_archived_timestamp_seconds", seconds(stream.lastArchivedTime))
        set("pgbackup_slot_retained_bytes", view.observations.slotRetainedBytes.map(Double.init))
        set("pgbackup_backups", survey.map { Double($0.backups) })
        set("pgbackup_backup_last_success_timestamp_seconds", seconds(backup?.lastSuccess ?? survey?.newestBackupStop))
        set("pgbackup_backup_last_failure_timestamp_seconds", seconds(backup?.lastFailure))
        set("pgbackup_backup_last_duration_seconds", backup?.lastDurationSeconds)
        set("pgbackup_backup_last_stored_bytes", backup?.lastStoredBytes.map(Double.init))
        // The newest complete backup's pages whose checksum failed (0: none reported).
        set("pgbackup_backup_last_checksum_failures", survey.map { Double($0.newestBackupChecksumFailures) })
        set("pgbackup_recovery_window_start_timestamp_seconds", seconds(survey?.recoveryWindowStart))
        set("pgbackup_verification_last_success_timestamp_seconds", seconds(survey?.lastVerificationSuccess))
        set("pgbackup_verification_last_ok", survey?.lastVerification.map { $0.ok ? 1 : 0 })
        set("pgbackup_repository_bytes", survey.map { Double($0.repositoryBytes) })
        advance("pgbackup_wal_segments_archived_total", to: stream.segmentsArchived) { counters["pgbackup_wal_segments_archived_total"] }
        advance("pgbackup_wal_gaps_total", to: stream.gapsRecorded) { counters["pgbackup_wal_gaps_total"] }
        for (operation, count) in view.state.errors {
            advance("pgbackup_errors_total/\(operation)", to: count) {
                errorCounters.withLock { counters in
                    if let counter = counters[operation] { return counter }
                    let counter = CoreMetrics.Counter(label: "pgbackup_errors_total", dimensions: [("server", server), ("operation", operation)], factory: factory)
                    counters[operation] = counter
                    return counter
                }
            }
        }
        return registry.emitToString()
    }

    /// Increments a counter by what `total` grew since the last scrape (totals only grow).
    private func advance(_ key: String, to total: Int, counter: () -> CoreMetrics.Counter?) {
        let delta = published.withLock { published in
            let delta = total - published[key, default: 0]
            if delta > 0 { published[key] = total }
            return delta
        }
        if delta > 0 { counter()?.increment(by: delta) }
    }
}
