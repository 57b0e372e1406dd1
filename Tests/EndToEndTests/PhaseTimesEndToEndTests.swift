import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

/// Where a backup's and a restore's time goes (issue 16): `--json` carries every phase, in
/// order, and `--log-level debug` logs one line per phase as it ends, through the binary against
/// a real PostgreSQL 15 server.
@Suite("phase times of backup and restore, end to end", .serialized)
struct PhaseTimesEndToEndTests {
    static let options = PostgresCluster.Options(settings: ["autovacuum": "off"], walSegmentSizeMB: 1)

    struct WithPhases: Decodable {
        var durationSeconds: Double?
        var seconds: Double?
        var phases: PhaseTimes
    }

    @Test func backupAndRestoreReportEveryPhaseInJSONAndInTheDebugLog() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(Self.options) { cluster in
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            try await cluster.pgbench(["-i", "-s", "1", "-q"])

            let startedAt = Date()
            let backup = try await PGBackupBinary.run(["backup", "--json", "--log-level", "debug"], environment: fixture.environment)
            let wall = Date().timeIntervalSince(startedAt)
            try #require(backup.status == 0, "backup failed: \(backup.standardError)")
            let summary = try decode(BackupSummary.self, backup.standardOutput)  // still a summary
            let backupPhases = try decode(WithPhases.self, backup.standardOutput).phases

            let top = backupPhases.phases.filter { $0.within == nil }.map(\.name)
            #expect(top == ["survey", "connect", "slot", "lock", "prepare", "checkpoint", "stream", "finish", "flush", "manifest", "commit", "release"])
            let inside = Set(backupPhases.phases.filter { $0.within != nil }.map { "\($0.within!)/\($0.name)" })
            #expect(inside == ["stream/chunk-store-busy", "finish/chunks", "finish/wal-received", "finish/wal-stored"])
            #expect(backupPhases.phases.allSatisfy { $0.seconds >= 0 })
            // The top-level phases follow each other: they add up to the backup's own duration
            // (measured before its commit) plus the commit, within the process's wall time.
            #expect(backupPhases.total >= summary.durationSeconds - 0.01)
            #expect(backupPhases.total <= wall)
            // The WAL is received before it is stored; both lie inside `finish`.
            let finish = try #require(backupPhases["finish"])
            let walReceived = try #require(backupPhases["wal-received"])
            let walStored = try #require(backupPhases["wal-stored"])
            let chunks = try #require(backupPhases["chunks"])
            #expect(walReceived <= walStored + 0.001)
            #expect(walStored <= finish + 0.001)
            #expect(chunks <= finish + 0.001)
            let backupLines = backup.standardError.split(separator: "\n").filter { $0.contains("backup phase ") }
            #expect(backupLines.count == backupPhases.phases.count, "\(backup.standardError)")
            for phase in backupPhases.phases {
                #expect(backupLines.contains { $0.contains("phase=\(phase.name) ") || $0.hasSuffix("phase=\(phase.name)") }, "no debug line for \(phase.name)")
            }

            let directory = scratch.path + "/restored"
            let began = Date()
            let restore = try await PGBackupBinary.run(
                ["restore", "--pgdata", directory, "--target-immediate", "--json", "--log-level", "debug"], environment: fixture.environment)
            let restoreWall = Date().timeIntervalSince(began)
            try #require(restore.status == 0, "restore failed: \(restore.standardError)")
            let restored = try decode(WithPhases.self, restore.standardOutput)
            #expect(restored.phases.phases.map(\.name) == ["plan", "check", "layout", "content", "finish", "sync", "configure", "control"])
            #expect(restored.phases.phases.allSatisfy { $0.within == nil && $0.seconds >= 0 })
            let seconds = try #require(restored.seconds)
            #expect(abs(restored.phases.total - seconds) < 0.05, "phases \(restored.phases.summary) against \(seconds) s")
            #expect(restored.phases.total <= restoreWall)
            let restoreLines = restore.standardError.split(separator: "\n").filter { $0.contains("restore phase ") }
            #expect(restoreLines.count == restored.phases.phases.count, "\(restore.standardError)")
        }
    }
}
