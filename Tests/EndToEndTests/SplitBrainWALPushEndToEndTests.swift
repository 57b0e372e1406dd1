import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport

/// Split brain through `archive_command` (issue #13): primary A and standby B both archive with
/// `pgbackup wal-push`; A crashes, B is promoted and takes writes, then A comes back as a primary
/// on timeline 1 and takes writes too. A's WAL after the fork never lands under canonical names:
/// wal-push keeps it apart under `wal/diverged/00000001/` with a record (and exits 0), `check`
/// reports it, and a restore to latest gives B's history.
@Suite("split brain through wal-push, end to end", .serialized)
struct SplitBrainWALPushEndToEndTests {
    static let options: PostgresCluster.Options = {
        var options = PostgresCluster.Options(name: "split", walSegmentSizeMB: 1)
        options.settings["autovacuum"] = "off"
        return options
    }()

    /// The server's archiver: last archived file and failures.
    static func archiver(_ cluster: PostgresCluster) async throws -> (last: String, failed: Int) {
        let row = try await cluster.rows("SELECT coalesce(last_archived_wal, ''), failed_count FROM pg_stat_archiver")[0]
        return (row[0], Int(row[1]) ?? -1)
    }

    /// Commits `count` rows of `origin` and completes the segment holding them; returns that segment.
    static func writeAndSwitch(_ cluster: PostgresCluster, origin: String, count: Int = 100) async throws -> String {
        try await cluster.sql("INSERT INTO rows SELECT '\(origin)', g FROM generate_series(1, \(count)) g")
        let segment = try await cluster.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
        try await cluster.sql("SELECT pg_switch_wal()")
        return segment
    }

    @Test(arguments: RepositoryKind.tested)
    func aFormerPrimaryArchivingAfterTheFailoverIsKeptApartAndReported(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let config = scratch.path + "/pgbackup.yaml"
        var options = WALPushFetchEndToEndTests.archivingOptions(config: config)
        options.name = Self.options.name
        options.walSegmentSizeMB = Self.options.walSegmentSizeMB
        options.settings.merge(Self.options.settings) { $1 }
        try await withPostgresCluster(options) { a in
            let setup = try await WALPushFetchEndToEndTests.ArchiveSetup.make(kind, in: scratch, for: a)
            let repository = setup.repository
            let store = try repository.store
            let segmentSize = try WALSegmentSize(megabytes: 1)
            let archive = WALArchive(repository: try repository.mainServer, segmentSize: segmentSize, compression: .zstd(level: 1))
            func environment(_ primary: PostgresCluster) -> [String: String] {
                repository.environment.merging(["PGBACKUP_CONNINFO": primary.conninfo(replication: true)]) { $1 }
            }

            try await a.sql("CREATE TABLE rows (origin text, n int)")
            _ = try await Self.writeAndSwitch(a, origin: "a-before")
            let backup = try await PGBackupBinary.run(["backup"], environment: environment(a))
            try #require(backup.status == 0, "backup: \(backup.standardError)")
            try repository.letTheServerUse(a.serverUser)  // the backup (run as root) stored WAL too
            let b = try await a.makeStandby(name: "split-b")
            try await a.sql("INSERT INTO rows SELECT 'a-replicated', g FROM generate_series(1, 100) g")
            try await b.waitForReplay(of: a)

            // A crashes; B is promoted (and archives its history file and timeline 2) and takes writes.
            try await a.crash()
            try await b.promote()
            try await b.sql("INSERT INTO rows SELECT 'b-after', g FROM generate_series(1, 100) g")
            let bSegment = try await Self.writeAndSwitch(b, origin: "b-after-2")
            try await b.waitUntil("B's history file and \(bSegment) in the repository", timeout: .seconds(60)) {
                guard try await store.exists("main/wal/00000002.history") else { return false }
                return try await store.exists(setup.object(bSegment))
            }
            let switchPoint = try #require(try await archive.history(of: TimelineID(2))?.switchpoint(of: TimelineID(1)))

            // A comes back as a primary on timeline 1 and takes writes: its archive_command pushes
            // the segments it completes after the fork.
            try await a.startServer()
            #expect(try await a.sql("SELECT pg_is_in_recovery()") == "f")
            let forked = [
                try await Self.writeAndSwitch(a, origin: "a-diverged"),
                try await Self.writeAndSwitch(a, origin: "a-diverged-2"),
            ]
            try await a.waitUntil("A to archive \(forked.last!)", timeout: .seconds(60)) {
                try await Self.archiver(a).last >= forked.last!
            }

            // wal-push exited 0 every time (nothing piles up in A's pg_wal), and said why in A's log.
            #expect(try await Self.archiver(a).failed == 0, "A's log:\n\(a.logTail())")
            let log = try String(contentsOfFile: a.logFile, encoding: .utf8)
            for segment in forked {
                #expect(log.contains("'\(segment)' conflicts with the repository's WAL history and was kept apart as 'main/wal/diverged/00000001/\(segment)."),
                        "A's log:\n\(a.logTail())")
            }
            #expect(log.contains("its timeline ended at \(switchPoint) (00000002.history)"))

            // Nothing of A's after the fork is under a canonical name; every timeline-1 segment
            // held ends at or before the switch point.
            let canonical = try await repository.archivedSegments(segmentSize: segmentSize)
            for segment in forked {
                #expect(!canonical.contains { $0.name == segment }, "\(segment) is under its canonical name")
            }
            #expect(canonical.filter { $0.timeline == TimelineID(1) }.allSatisfy { $0.endLSN <= switchPoint }, "\(canonical.map(\.name)), switch point \(switchPoint)")
            #expect(canonical.contains { $0.name == bSegment })

            // They are under wal/diverged/00000001/, with records naming A's host and data directory.
            let kept = try await repository.keys(under: "main/wal/diverged/00000001/")
            let records = try await archive.diverged()
            for segment in forked {
                #expect(kept.contains { $0.hasPrefix("main/wal/diverged/00000001/\(segment).") && !$0.hasSuffix(".json") }, "\(kept)")
                let record = try #require(records.first { $0.fileName == segment }, "\(records)")
                #expect(kept.contains(record.key) && kept.contains(record.key + ".json"))
                #expect(record.reason == .beyondSwitchPoint(switchPoint, history: "00000002.history"))
                #expect(record.source.hasPrefix("wal-push on host ") && record.source.hasSuffix(" from data directory \(a.dataDirectory)"), "\(record.source)")
                #expect(record.size == Int64(segmentSize.bytes))
            }
            #expect(records.allSatisfy { $0.timeline == TimelineID(1) })

            // check: the diverged check is unhealthy, naming the newest file, its source and a hint.
            let check = try await PGBackupBinary.run(["check", "--json"], environment: environment(b))
            #expect(check.status == 1)
            let report = try #require(try JSONSerialization.jsonObject(with: Data(check.standardOutput.utf8)) as? [String: Any], "\(check.standardError)")
            let checks = try #require(report["checks"] as? [[String: Any]])
            let diverged = try #require(checks.first { $0["name"] as? String == "diverged" }, "\(checks)")
            #expect(diverged["ok"] as? Bool == false)
            let detail = diverged["detail"] as? String ?? ""
            #expect(detail.hasPrefix("\(records.count) diverged WAL files kept apart under wal/diverged/ since the newest backup "), "\(detail)")
            #expect(detail.contains("from wal-push on host ") && detail.contains(a.dataDirectory), "\(detail)")
            #expect(detail.contains("HINT: a former primary archived WAL after a failover: fence it, then rejoin it with `pgbackup follow`"))

            // verify lists it as information, not as a problem.
            let verify = try await PGBackupBinary.run(["verify", "--json"], environment: repository.environment)
            let verified = try #require(try JSONSerialization.jsonObject(with: Data(verify.standardOutput.utf8)) as? [String: Any], "\(verify.standardError)")
            let listed = try #require(verified["diverged"] as? [[String: Any]])
            #expect(Set(listed.compactMap { $0["fileName"] as? String }) == Set(records.map(\.fileName)))
            let errors = verified["errors"] as? [[String: Any]] ?? []
            #expect(!errors.contains { ($0["object"] as? String ?? "").contains("/diverged/") }, "\(errors)")

            // A restore to latest follows B: B's rows, none of A's after the fork.
            try await a.stop(mode: .immediate)
            try repository.letTheServerUse(a.serverUser)
            let target = scratch.path + "/restored"
            let restored = try await PGBackupBinary.run(["restore", "--pgdata", target], environment: repository.environment)
            try #require(restored.status == 0, "restore: \(restored.standardError)")
            // The restored copy carries A's archive_command; restore turns archiving off, so it
            // does not archive its own timeline into this repository (that would end timeline 2
            // there, and B's next WAL would be kept apart as diverged).
            #expect(restored.standardOutput.contains("archiving: off"), "\(restored.standardOutput)")
            let server = try await PostgresCluster.start(existingDataDirectory: target, ownedTrees: [target + ".pgbackup.yaml"], .init(name: "split-restored"))
            do {
                try await server.waitUntil("the restored server to finish recovery", timeout: .seconds(120)) {
                    try await server.sql("SELECT pg_is_in_recovery()") == "f"
                }
                let counts = try await server.rows("SELECT origin, count(*) FROM rows GROUP BY origin ORDER BY origin")
                #expect(counts == [["a-before", "100"], ["a-replicated", "100"], ["b-after", "100"], ["b-after-2", "100"]], "\(counts)")
                #expect(try await server.sql("SELECT timeline_id FROM pg_control_checkpoint()") != "1")
                #expect(try await server.sql("SHOW archive_mode") == "off")
                try await server.sql("SELECT pg_switch_wal()")
                // B's WAL written after the copy was promoted is still canonical, and the
                // copy's timeline never reached the repository.
                let bLater = try await Self.writeAndSwitch(b, origin: "b-later")
                try await b.waitUntil("B to archive \(bLater)", timeout: .seconds(60)) { try await Self.archiver(b).last >= bLater }
                #expect(try await store.exists(setup.object(bLater)), "B's \(bLater) is not under its canonical name")
                #expect(!(try await store.exists("main/wal/00000003.history")))
                #expect(try await archive.diverged() == records)
                await server.destroy()
            } catch {
                let log = server.logTail(lines: 30)
                await server.destroy()
                throw FixtureError("\(error)\nrestored server's log:\n\(log)")
            }

            // A backup of the new primary settles it: what was kept apart predates it.
            let settled = try await PGBackupBinary.run(["backup"], environment: environment(b))
            try #require(settled.status == 0, "backup: \(settled.standardError)")
            let after = try await PGBackupBinary.run(["check", "--json"], environment: environment(b))
            let afterReport = try #require(try JSONSerialization.jsonObject(with: Data(after.standardOutput.utf8)) as? [String: Any])
            let afterDiverged = try #require((afterReport["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "diverged" })
            #expect(afterDiverged["ok"] as? Bool == true, "\(afterDiverged)")
            #expect((afterDiverged["detail"] as? String ?? "").contains("all recorded before the newest backup"))

            // Retention removes the old backup and the WAL only it needed, never diverged WAL.
            let divergedBefore = try await repository.keys(under: "main/wal/diverged/")
            let policy = scratch.path + "/redundancy-1.yaml"
            try "retention:\n  redundancy: 1\n".write(toFile: policy, atomically: true, encoding: .utf8)
            let retention = try await PGBackupBinary.run(
                ["retention", "--json"], environment: repository.environment.merging(["PGBACKUP_POLICY": policy]) { $1 })
            try #require(retention.status == 0, "retention: \(retention.standardError)")
            let retained = try #require(try JSONSerialization.jsonObject(with: Data(retention.standardOutput.utf8)) as? [String: Any])
            #expect((retained["removed"] as? [Any])?.count == 1 && (retained["walObjects"] as? Int ?? 0) > 0, "\(retention.standardOutput)")
            #expect(try await repository.keys(under: "main/wal/diverged/") == divergedBefore)
            #expect(try await archive.diverged() == records)
            if ProcessInfo.processInfo.environment["SPLIT_E2E_PRINT"] != nil {
                print("[\(kind)] switch point \(switchPoint); kept apart: \(records.map(\.description).joined(separator: "; "))")
                print("[\(kind)] A's log: \(log.split(separator: "\n").filter { $0.contains("kept apart") }.joined(separator: "\n"))")
                print("[\(kind)] check: \(detail)\n[\(kind)] after the new backup: \(afterDiverged["detail"] ?? "")")
                print("[\(kind)] retention: \(retention.standardOutput)")
            }
        }
    }
}
