import Foundation
import PGBackupFoundations
import Synchronization

/// What the daemon's parts report about themselves, read by `/status`, `/ready`, `/health` and
/// `/metrics`: one lock, short critical sections, copies out. Each part writes its own fields.
public final class DaemonState: Sendable {
    /// One scheduled job kind's record.
    public struct Job: Sendable, Codable, Equatable {
        public var running = false
        public var lastStart: Date?
        public var lastEnd: Date?
        public var lastSuccess: Date?
        public var lastFailure: Date?
        public var lastDurationSeconds: Double?
        public var lastError: String?
        /// For backups: bytes stored by the last successful run.
        public var lastStoredBytes: Int64?
        /// The last successful backup's id, for backups.
        public var lastBackupID: String?
        public var nextRun: Date?
        public var runs = 0
        public var failures = 0
        /// Slots skipped because the previous run was still going.
        public var skipped = 0

        public init() {}
    }

    /// The scheduled jobs, by kind.
    public enum JobKind: String, Sendable, Codable, CaseIterable {
        case backup, retention
        case verifyRestore = "verify_restore"
    }

    /// Everything at one instant.
    public struct Snapshot: Sendable {
        public var started: Date
        public var server: String
        public var jobs: [JobKind: Job]
        /// Errors by operation (`pgbackup_errors_total{operation}`).
        public var errors: [String: Int]
    }

    private let state: Mutex<Snapshot>

    public init(server: String, started: Date = Date()) {
        state = Mutex(Snapshot(started: started, server: server, jobs: [:], errors: [:]))
    }

    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Changes one job's record.
    public func updateJob(_ kind: JobKind, _ body: (inout Job) -> Void) {
        state.withLock { body(&$0.jobs[kind, default: Job()]) }
    }

    /// Counts an error of `operation` (e.g. `backup`, `wal_upload`, `verify_restore`).
    public func countError(_ operation: String) {
        state.withLock { $0.errors[operation, default: 0] += 1 }
    }
}
