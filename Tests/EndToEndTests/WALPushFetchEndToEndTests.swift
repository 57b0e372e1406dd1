import Foundation
import PGBackupTestSupport
import Testing

/// `wal-push` as a real PostgreSQL 15's archive_command, and `wal-fetch` as restore_command would
/// run it, through the built binary.
@Suite("pgbackup wal-push and wal-fetch, end to end")
struct WALPushFetchEndToEndTests {
    /// A repository of `kind` for `cluster`, created by `pgbackup init` and handed to the
    /// server's OS user (archive_command runs as that user), and a configuration file naming it
    /// (with the S3 credentials, if any: mode 0600, owned by that user).
    struct ArchiveSetup {
        let repository: TestRepository
        let config: String

        static func make(_ kind: RepositoryKind, in scratch: ScratchDirectory, for cluster: PostgresCluster) async throws -> ArchiveSetup {
            let repository = try await TestRepository.make(kind, in: scratch)
            let config = scratch.path + "/pgbackup.yaml"
            try repository.writeConfiguration(to: config, for: cluster.serverUser)
            let initialized = try await PGBackupBinary.run(
                ["init", "--config", config], environment: ["PGBACKUP_CONNINFO": cluster.conninfo(replication: true)])
            #expect(initialized.status == 0, "stderr: \(initialized.standardError)")
            try repository.letTheServerUse(cluster.serverUser)
            return ArchiveSetup(repository: repository, config: config)
        }

        /// The key of an archived segment's object.
        func object(_ segment: String, _ ext: String = "zst") -> String {
            "main/wal/\(segment.prefix(16))/\(segment).\(ext)"
        }
    }

    /// archive_command runs the binary with the configuration file (scratch directories under
    /// /tmp are world-readable), because the server's environment holds no PGBACKUP_* variables.
    static func archivingOptions(config: String) -> PostgresCluster.Options {
        PostgresCluster.Options(name: "archive", settings: [
            "archive_mode": "on",
            "archive_command": "'\(PGBackupBinary.path) wal-push --config \(config) %p'",
        ])
    }

    @Test(arguments: RepositoryKind.tested)
    func archiveCommandStoresSegmentsThatFetchReturnsIdentical(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let config = scratch.path + "/pgbackup.yaml"
        try await withPostgresCluster(Self.archivingOptions(config: config)) { cluster in
            let setup = try await ArchiveSetup.make(kind, in: scratch, for: cluster)

            try await cluster.sql("CREATE TABLE t AS SELECT g, md5(g::text) AS h FROM generate_series(1, 40000) g")
            let segment = try await cluster.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
            try await cluster.sql("SELECT pg_switch_wal()")
            try await cluster.waitUntil("\(segment) archived", timeout: .seconds(60)) {
                let last = try await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
                return last >= segment
            }
            let stats = try await cluster.rows("SELECT archived_count, failed_count FROM pg_stat_archiver")
            #expect(Int(stats[0][0]) ?? 0 >= 1)
            #expect(stats[0][1] == "0", "archive_command failed; server log:\n\(cluster.logTail())")

            // The stored object decompresses with the real zstd to the server's own segment.
            let original = try Data(contentsOf: URL(fileURLWithPath: "\(cluster.dataDirectory)/pg_wal/\(segment)"))
            #expect(original.count == 16 << 20)
            let storedCopy = scratch.path + "/stored.zst"
            try Data(try await setup.repository.store.get(setup.object(segment))).write(to: URL(fileURLWithPath: storedCopy))
            let unzstd = try await runProcess("/usr/bin/env", ["zstd", "-d", "-c", "-q", storedCopy])
            #expect(unzstd.status == 0, "\(unzstd.standardError)")
            #expect(unzstd.standardOutputData == original, "zstd -d gives \(unzstd.standardOutputData.count) bytes")

            // wal-fetch returns it identical, quietly.
            let fetched = try await PGBackupBinary.run(["wal-fetch", "--config", setup.config, segment, scratch.path + "/RECOVERYXLOG"])
            #expect(fetched.status == 0, "stderr: \(fetched.standardError)")
            #expect(fetched.standardError.isEmpty && fetched.standardOutput.isEmpty)
            #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/RECOVERYXLOG")) == original)

            // PostgreSQL may push a segment again (it retries when it missed our success).
            let again = try await PGBackupBinary.run(["wal-push", "--config", setup.config, "\(cluster.dataDirectory)/pg_wal/\(segment)"])
            #expect(again.status == 0, "stderr: \(again.standardError)")

            // Different content under the archived name: kept apart under wal/diverged/ (exit 0,
            // so a former primary does not fill its disk), one clear line, the archived copy unchanged.
            var different = original
            different[different.count / 2] ^= 0xFF
            try FileManager.default.createDirectory(atPath: scratch.path + "/other", withIntermediateDirectories: true)
            try different.write(to: URL(fileURLWithPath: scratch.path + "/other/" + segment))
            let storedBefore = try await setup.repository.store.get(setup.object(segment))
            let conflict = try await PGBackupBinary.run(["wal-push", "--config", setup.config, scratch.path + "/other/" + segment])
            #expect(conflict.status == 0, "stderr: \(conflict.standardError)")
            #expect(conflict.standardError.contains("'\(segment)' conflicts with the repository's WAL history and was kept apart as 'main/wal/diverged/00000001/\(segment)."), "stderr: \(conflict.standardError)")
            #expect(conflict.standardError.contains("differs from the archived copy '\(setup.object(segment))'"))
            #expect(conflict.standardError.contains("HINT:"))
            #expect(conflict.standardError.split(separator: "\n").count == 1, "stderr: \(conflict.standardError)")
            #expect(try await setup.repository.store.get(setup.object(segment)) == storedBefore)

            // A damaged object: exit 1, the object named, DEST never created.
            try await setup.repository.damage(setup.object(segment), at: 1.0 / 3, mask: 0x01)
            let destination = scratch.path + "/DAMAGED"
            let refused = try await PGBackupBinary.run(["wal-fetch", "--config", setup.config, segment, destination])
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("unable to verify 'main/wal/\(segment.prefix(16))/\(segment).zst'"),
                    "stderr: \(refused.standardError)")
            #expect(!FileManager.default.fileExists(atPath: destination))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.contains("pgbackup-tmp") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func aStandbyReplaysFromTheArchiveThroughRestoreCommand(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let config = scratch.path + "/pgbackup.yaml"
        try await withPostgresCluster(Self.archivingOptions(config: config)) { primary in
            let setup = try await ArchiveSetup.make(kind, in: scratch, for: primary)
            let standby = try await primary.makeStandby()
            // Cut the standby off from the primary: from now on, WAL reaches it only through
            // restore_command, i.e. wal-fetch.
            try await standby.sql(
                "ALTER SYSTEM SET primary_conninfo = ''",
                "ALTER SYSTEM SET restore_command = '\(PGBackupBinary.path) wal-fetch --config \(setup.config) %f %p'",
                "ALTER SYSTEM SET wal_retrieve_retry_interval = '200ms'",
                "SELECT pg_reload_conf()")
            try await standby.waitUntil("the standby's WAL receiver to stop") {
                try await standby.sql("SELECT count(*) FROM pg_stat_wal_receiver") == "0"
            }

            try await primary.sql("CREATE TABLE archived_only AS SELECT g FROM generate_series(1, 1000) g")
            let segment = try await primary.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
            try await primary.sql("SELECT pg_switch_wal()")
            try await primary.waitUntil("\(segment) archived") {
                try await primary.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") >= segment
            }
            try await standby.waitUntil("the standby to replay the archived segment") {
                try await standby.sql("SELECT count(*) FROM archived_only") == "1000"
            }
            let log = try String(contentsOfFile: standby.logFile, encoding: .utf8)
            #expect(log.contains("restored log file \"\(segment)\" from archive"), "standby log:\n\(standby.logTail())")
            // The standby asked for files the archive does not hold yet, over and over: quietly.
            #expect(!log.contains("pgbackup: error"), "standby log:\n\(standby.logTail())")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func missingFilesAreQuietAndHistoryAndPartialFilesAreServed(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster { cluster in
            let setup = try await ArchiveSetup.make(kind, in: scratch, for: cluster)
            let segment = try await cluster.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")

            // PostgreSQL probes for files that do not exist: exit 1, nothing on stderr, no DEST.
            for name in ["00000002.history", segment, "000000010000000A000000FF"] {
                // The timeout is a hang guard (it throws ProcessError.timedOut), not a speed bound.
                let missing = try await PGBackupBinary.run(
                    ["wal-fetch", "--config", setup.config, name, scratch.path + "/RECOVERYXLOG"], timeout: .seconds(120))
                #expect(missing.status == 1)
                #expect(missing.standardError.isEmpty, "stderr: \(missing.standardError)")
                #expect(!FileManager.default.fileExists(atPath: scratch.path + "/RECOVERYXLOG"))
            }
            let verbose = try await PGBackupBinary.run(["wal-fetch", "--config", setup.config, "--log-level", "debug", "00000002.history", scratch.path + "/x"])
            #expect(verbose.status == 1 && verbose.standardError.contains("not in the WAL archive"))

            // A timeline history file round-trips byte for byte.
            let history = "1\t0/3000028\tno recovery target specified\n"
            try history.write(toFile: scratch.path + "/00000002.history", atomically: true, encoding: .utf8)
            let pushed = try await PGBackupBinary.run(["wal-push", "--config", setup.config, scratch.path + "/00000002.history"])
            #expect(pushed.status == 0, "stderr: \(pushed.standardError)")
            let fetched = try await PGBackupBinary.run(["wal-fetch", "--config", setup.config, "00000002.history", scratch.path + "/RECOVERYHISTORY"])
            #expect(fetched.status == 0, "stderr: \(fetched.standardError)")
            #expect(try String(contentsOfFile: scratch.path + "/RECOVERYHISTORY", encoding: .utf8) == history)

            // A segment held only as a .partial is served zero-padded to the segment size.
            let partialContent = Data((0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) })
            try partialContent.write(to: URL(fileURLWithPath: scratch.path + "/\(segment).partial"))
            let pushedPartial = try await PGBackupBinary.run(["wal-push", "--config", setup.config, scratch.path + "/\(segment).partial"])
            #expect(pushedPartial.status == 0, "stderr: \(pushedPartial.standardError)")
            let padded = try await PGBackupBinary.run(["wal-fetch", "--config", setup.config, segment, scratch.path + "/RECOVERYXLOG"])
            #expect(padded.status == 0, "stderr: \(padded.standardError)")
            let restored = try Data(contentsOf: URL(fileURLWithPath: scratch.path + "/RECOVERYXLOG"))
            #expect(restored.count == 16 << 20)
            #expect(restored.prefix(100_000) == partialContent)
            #expect(restored.dropFirst(100_000).allSatisfy { $0 == 0 })

            // Not a WAL file name: exit 1 with the reason.
            let foreign = try await PGBackupBinary.run(["wal-push", "--config", setup.config, setup.config])
            #expect(foreign.status == 1)
            #expect(foreign.standardError.contains("unable to parse WAL file name 'pgbackup.yaml'"), "stderr: \(foreign.standardError)")
        }
    }

    @Test(arguments: RepositoryKind.tested)
    func walPushNeedsAnInitializedRepository(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let repository = try await TestRepository.make(kind, in: scratch)
        if let directory = repository.directory { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
        try Data(count: 16 << 20).write(to: URL(fileURLWithPath: scratch.path + "/000000010000000000000001"))
        let env = repository.environment
        let push = try await PGBackupBinary.run(["wal-push", scratch.path + "/000000010000000000000001"], environment: env)
        #expect(push.status == 1)
        #expect(push.standardError.contains("no repository for server 'main'"), "stderr: \(push.standardError)")
        #expect(push.standardError.contains("HINT: run `pgbackup init`"))
        #expect(try await repository.isEmpty())

        let fetch = try await PGBackupBinary.run(["wal-fetch", "000000010000000000000001", scratch.path + "/x"], environment: env)
        #expect(fetch.status == 1)
        #expect(fetch.standardError.contains("no repository for server 'main'"))

        let usage = try await PGBackupBinary.run(["wal-fetch", "000000010000000000000001"], environment: env)
        #expect(usage.status == 2)
        let help = try await PGBackupBinary.run(["wal-push", "--help"])
        #expect(help.status == 0 && help.standardOutput.contains("archive_command") && help.standardOutput.contains("--config"))
    }
}
