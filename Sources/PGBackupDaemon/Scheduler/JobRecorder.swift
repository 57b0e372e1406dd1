import Foundation
import Logging

/// What a finished job reports, for its record and its end event.
struct JobResult: Sendable {
    /// Bytes the job stored (a backup's new chunks and packs).
    var storedBytes: Int64?
    var backupID: String?
    /// More fields for the end event (never a secret).
    var metadata: Logger.Metadata = [:]
}

/// A job that ran but did not achieve its purpose (a verification that failed).
struct JobFailure: Error, CustomStringConvertible {
    var description: String
}

/// Runs one job and records it: the `DaemonState` job record, `countError(kind)` on failure,
/// and one structured log event at its start and one at its end (`event=job_start|job_end`,
/// `job`, `trigger`, `outcome`, `duration_seconds`, `stored_bytes`, `backup_id`, `next_run`).
struct JobRecorder: Sendable {
    let state: DaemonState
    let logger: Logger
    let now: @Sendable () -> Date

    /// Runs `body` as a `kind` job; returns whether it succeeded. A cancelled job (shutdown) is
    /// recorded as abandoned, not counted as an error.
    func run(_ kind: DaemonState.JobKind, trigger: String, _ body: @Sendable () async throws -> JobResult) async -> Bool {
        let started = now()
        let clock = ContinuousClock.now
        let record = state.updatingJob(kind) {
            $0.running = true
            $0.lastStart = started
        }
        var startMetadata: Logger.Metadata = ["event": "job_start", "job": "\(kind.rawValue)", "trigger": "\(trigger)"]
        if let next = record.nextRun { startMetadata["next_run"] = "\(Self.timestamp(next))" }
        logger.info("\(kind.rawValue) job starting", metadata: startMetadata)
        let outcome: Result<JobResult, any Error>
        do {
            outcome = .success(try await body())
        } catch {
            outcome = .failure(error)
        }
        let elapsed = ContinuousClock.now - clock
        let seconds = elapsed.inSeconds
        let endTime = now()
        var metadata: Logger.Metadata = [
            "event": "job_end", "job": "\(kind.rawValue)", "trigger": "\(trigger)",
            "duration_seconds": "\(Self.rounded(seconds))",
        ]
        let cancelled: Bool
        if case .failure(let error) = outcome { cancelled = error is CancellationError || Task.isCancelled } else { cancelled = false }
        let ended = state.updatingJob(kind) { job in
            job.running = false
            job.lastEnd = endTime
            job.lastDurationSeconds = seconds
            job.runs += 1
            switch outcome {
            case .success(let result):
                job.lastSuccess = endTime
                job.lastError = nil
                if let bytes = result.storedBytes { job.lastStoredBytes = bytes }
                if let id = result.backupID { job.lastBackupID = id }
            case .failure(let error):
                job.lastError = cancelled ? "abandoned: the daemon was shutting down" : "\(error)"
                if !cancelled {
                    job.lastFailure = endTime
                    job.failures += 1
                }
            }
        }
        if let next = ended.nextRun { metadata["next_run"] = "\(Self.timestamp(next))" }
        switch outcome {
        case .success(let result):
            metadata["outcome"] = "success"
            if let bytes = result.storedBytes { metadata["stored_bytes"] = "\(bytes)" }
            if let id = result.backupID { metadata["backup_id"] = "\(id)" }
            metadata.merge(result.metadata) { $1 }
            logger.info("\(kind.rawValue) job succeeded", metadata: metadata)
            return true
        case .failure(let error):
            if cancelled {
                metadata["outcome"] = "abandoned"
                logger.warning("\(kind.rawValue) job abandoned at shutdown", metadata: metadata)
            } else {
                state.countError(kind.rawValue)
                metadata["outcome"] = "failure"
                metadata["error"] = "\(error)"
                logger.error("\(kind.rawValue) job failed; it runs again at its next slot", metadata: metadata)
            }
            return false
        }
    }

    /// A slot skipped because the job's previous run still goes.
    func skipped(_ kind: DaemonState.JobKind) {
        let record = state.updatingJob(kind) { $0.skipped += 1 }
        var metadata: Logger.Metadata = ["event": "job_skipped", "job": "\(kind.rawValue)", "outcome": "skipped"]
        if let next = record.nextRun { metadata["next_run"] = "\(Self.timestamp(next))" }
        logger.warning("\(kind.rawValue) slot skipped: the previous \(kind.rawValue) is still running", metadata: metadata)
    }

    static func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }

    static func timestamp(_ date: Date) -> String { date.formatted(Date.ISO8601FormatStyle()) }
}

extension DaemonState {
    /// Changes one job's record and returns the changed record.
    func updatingJob(_ kind: JobKind, _ body: (inout Job) -> Void) -> Job {
        var changed = Job()
        updateJob(kind) {
            body(&$0)
            changed = $0
        }
        return changed
    }
}
