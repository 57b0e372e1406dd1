import Foundation
import PGBackupServices
import PGBackupTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup follow` after a failover, through the built binary, on real PostgreSQL 15 servers
/// on their own ports of 127.0.0.1: primary A archives into the repository with `wal-push`; B
/// and C stream from A; A crashes, B is promoted (and archives timeline 2), and then:
/// - `follow` repoints the running standby C to B (found among A and B), without pgbackup's
///   password, keeping C's application_name, and C replays B's new rows;
/// - standby D, which replayed A's WAL past the point where B left timeline 1, is refused while
///   it runs and, stopped, rejoined by a delta restore, without the rows only it had seen;
/// - A comes back as a primary on timeline 1 and takes writes (split brain): `follow` refuses to
///   touch it while it runs; stopped, `follow` rejoins it as B's standby by a delta restore that
///   writes a fraction of the database, and A then streams from B without its own diverged rows;
/// - refusals: a directory of another cluster, a directory that is not a data directory, no
///   primary reachable.
@Suite("pgbackup follow, end to end")
struct FollowEndToEndTests {
    /// The part of `follow --json` the tests read.
    struct FollowOutput: Decodable {
        var action: String
        var primary: String
        var timeline: UInt32
        var primaryConninfo: String
        var bytesWritten: Int64?
        var bytesUnchanged: Int64?
        var bytesTotal: Int64?
        var seconds: Double
    }

    @Test(arguments: RepositoryKind.tested)
    func followRepointsAStandbyAndRejoinsTheFormerPrimary(kind: RepositoryKind) async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let config = scratch.path + "/pgbackup.yaml"
        var options = WALPushFetchEndToEndTests.archivingOptions(config: config)
        options.name = "follow-a"
        try await withPostgresCluster(options) { a in
            let setup = try await WALPushFetchEndToEndTests.ArchiveSetup.make(kind, in: scratch, for: a)
            let password = a.replicationPassword

            // Most of the database is a quiet table, frozen before the backup: a rejoin rewrites
            // only what changed since.
            try await a.pgbench(["-i", "-s", "2", "-q"])
            try await a.sql("VACUUM FREEZE", "CHECKPOINT")
            var backupEnvironment = setup.repository.environment
            backupEnvironment["PGBACKUP_CONNINFO"] = a.conninfo(replication: true)
            backupEnvironment["PGBACKUP_SPOOL"] = scratch.path + "/spool"
            let backup = try await PGBackupBinary.run(["backup"], environment: backupEnvironment)
            try #require(backup.status == 0, "\(backup.standardError)")
            try setup.repository.letTheServerUse(a.serverUser)

            let b = try await a.makeStandby(name: "follow-b")
            let c = try await a.makeStandby(name: "follow-c")
            // C names itself to its primary, and its primary_conninfo holds the password.
            let cConninfo = a.conninfo(replication: true) + " application_name=node_c"
            try await c.sql("ALTER SYSTEM SET primary_conninfo = \(Self.literal(cConninfo))", "SELECT pg_reload_conf()")
            try await a.waitUntil("C to stream from A as node_c") {
                try await a.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'node_c'") == "1"
            }

            let d = try await a.makeStandby(name: "follow-d")

            try await a.sql("CREATE TABLE before_failover AS SELECT g FROM generate_series(1, 1000) g")
            try await Self.archiveCurrentSegment(of: a)
            for standby in [b, c, d] { try await standby.waitForReplay(of: a) }
            // C, then B, stop receiving; D goes on replaying A's WAL past where B will leave
            // timeline 1. C stops first: WAL that A writes in between (a running-xacts record, a
            // checkpoint) may reach B but never C alone, which would leave C past B's fork point.
            // C keeps its application_name and password, towards a port nobody listens on.
            try await c.sql("ALTER SYSTEM SET primary_conninfo = \(Self.literal(cConninfo + " port=1"))", "SELECT pg_reload_conf()")
            try await a.waitUntil("C to stop streaming from A") {
                try await a.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'node_c'") == "0"
            }
            try await b.sql("ALTER SYSTEM SET primary_conninfo = ''", "SELECT pg_reload_conf()")
            try await a.waitUntil("only D to stream from A") {
                try await a.sql("SELECT string_agg(application_name, ',') FROM pg_stat_replication") == "walreceiver"
            }
            try await a.sql("CREATE TABLE only_d AS SELECT g FROM generate_series(1, 1000) g", "CHECKPOINT")
            try await d.waitForReplay(of: a)
            try await d.sql("CHECKPOINT")  // a restartpoint: D's pg_control records how far it replayed
            try await a.crash()
            try await b.promote()
            try await b.sql("CREATE TABLE after_failover AS SELECT g FROM generate_series(1, 500) g")
            try await Self.archiveCurrentSegment(of: b)

            // The standby authenticates with a passfile; pgbackup itself with its password.
            let passfile = scratch.path + "/pgpass"
            try Data("127.0.0.1:*:*:\(a.replicationUser):\(password)\n".utf8).write(to: URL(fileURLWithPath: passfile))
            chmod(passfile, 0o600)
            try a.serverUser.takeOwnership(ofTree: passfile)
            var environment = setup.repository.environment
            environment["PGBACKUP_CONNINFO"] = "host=127.0.0.1,127.0.0.1 port=\(a.port),\(b.port) user=\(a.replicationUser) password=\(password) passfile=\(passfile) dbname=postgres connect_timeout=5"

            // 1. C, a running standby of A, is repointed to B and reloaded.
            #expect(try String(contentsOfFile: c.dataDirectory + "/postgresql.auto.conf", encoding: .utf8).contains(password))
            let repointed = try await PGBackupBinary.run(["follow", "--pgdata", c.dataDirectory], environment: environment)
            #expect(repointed.status == 0, "stderr: \(repointed.standardError)")
            #expect(repointed.standardOutput.contains("repointed standby \(c.dataDirectory) to 127.0.0.1:\(b.port)"), "\(repointed.standardOutput)")
            #expect(repointed.standardOutput.contains("reloaded"))
            let cAutoConf = try String(contentsOfFile: c.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
            #expect(cAutoConf.contains("port=\(b.port)") && !cAutoConf.contains("port=\(a.port)"), "\(cAutoConf)")
            #expect(cAutoConf.contains("application_name=node_c"))
            #expect(cAutoConf.contains("passfile=\(passfile)"))
            #expect(cAutoConf.contains("recovery_target_timeline = 'latest'"))
            #expect(!cAutoConf.contains(password), "pgbackup's password in C's postgresql.auto.conf")
            #expect(!(repointed.standardOutput + repointed.standardError).contains(password))
            var info = stat()
            #expect(stat(c.dataDirectory + "/postgresql.auto.conf", &info) == 0 && info.st_uid == c.serverUser.uid && info.st_mode & 0o777 == 0o600)
            try await c.waitUntil("C to replay B's rows on timeline 2", timeout: .seconds(120)) {
                try await c.sql("SELECT count(*) FROM after_failover") == "500"
            }
            try await b.waitUntil("C to stream from B as node_c", timeout: .seconds(90)) {
                try await b.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'node_c' AND state = 'streaming'") == "1"
            }

            // 2. D, running and diverged, is refused untouched; stopped, it is rejoined.
            let dAutoConf = try String(contentsOfFile: d.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
            let dRefused = try await PGBackupBinary.run(["follow", "--pgdata", d.dataDirectory], environment: environment)
            #expect(dRefused.status == 1)
            #expect(dRefused.standardError.contains("diverged from the new primary"), "\(dRefused.standardError)")
            #expect(dRefused.standardError.contains("stop it, then run follow again"))
            #expect(try String(contentsOfFile: d.dataDirectory + "/postgresql.auto.conf", encoding: .utf8) == dAutoConf)
            try await d.stop()
            // D's pg_wal lives elsewhere (initdb --waldir): the link stays, its old WAL goes.
            let dWAL = d.baseDirectory + "/wal"
            try FileManager.default.moveItem(atPath: d.dataDirectory + "/pg_wal", toPath: dWAL)
            try FileManager.default.createSymbolicLink(atPath: d.dataDirectory + "/pg_wal", withDestinationPath: dWAL)
            lchown(d.dataDirectory + "/pg_wal", d.serverUser.uid, d.serverUser.gid)
            try Data().write(to: URL(fileURLWithPath: dWAL + "/not-wal"))
            try d.serverUser.takeOwnership(ofTree: dWAL + "/not-wal")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dWAL).contains { $0.count == 24 })
            let dLocal = try String(contentsOfFile: d.dataDirectory + "/pgbackup_test_local.conf", encoding: .utf8)
            let dRejoined = try await PGBackupBinary.run(["follow", "--pgdata", d.dataDirectory], environment: environment)
            #expect(dRejoined.status == 0, "stderr: \(dRejoined.standardError)")
            #expect(dRejoined.standardOutput.contains("rejoined diverged standby \(d.dataDirectory) as a standby of 127.0.0.1:\(b.port)"), "\(dRejoined.standardOutput)")
            #expect(!(dRejoined.standardOutput + dRejoined.standardError).contains(password))
            print("follow (\(kind)), diverged standby D:\n\(dRejoined.standardOutput)")
            #expect(try Self.notOwned(by: d.serverUser.uid, in: d.dataDirectory).isEmpty)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: d.dataDirectory + "/pg_wal") == dWAL)
            let dWALLeft = try FileManager.default.contentsOfDirectory(atPath: dWAL).sorted()
            // 17+ keep WAL summaries in pg_wal/summaries/, which the server needs: it stays, emptied.
            let walDirectories = d.major >= 17 ? ["archive_status", "summaries"] : ["archive_status"]
            #expect(dWALLeft == (walDirectories + ["not-wal"]).sorted(), "D's WAL directory holds \(dWALLeft)")
            for directory in walDirectories {
                #expect(try FileManager.default.contentsOfDirectory(atPath: dWAL + "/" + directory).isEmpty, "\(directory)")
            }
            #expect(try Self.notOwned(by: d.serverUser.uid, in: dWAL).isEmpty)
            // D keeps its own configuration (its port and socket), not the backed-up A's.
            #expect(try String(contentsOfFile: d.dataDirectory + "/pgbackup_test_local.conf", encoding: .utf8) == dLocal)
            try setup.repository.letTheServerUse(a.serverUser)
            try await d.startServer()
            try await d.waitUntil("D to replay B's rows", timeout: .seconds(90)) {
                try await d.sql("SELECT count(*) FROM after_failover") == "500"
            }
            #expect(try await d.sql("SELECT to_regclass('only_d') IS NULL") == "t", "D kept rows B never had")
            #expect(!(try String(contentsOfFile: d.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)).contains(password))

            // A rejoin that did not complete (RESTORE_FAILED, no pg_control) is completed by running
            // follow again; --primary-conninfo is written as given.
            try await d.stop()
            let identifier = try await b.sql("SELECT system_identifier FROM pg_control_system()")
            try FileManager.default.removeItem(atPath: d.dataDirectory + "/global/pg_control")
            try Data("pgbackup is restoring backup … into this directory\nsystem identifier: \(identifier)\n".utf8)
                .write(to: URL(fileURLWithPath: d.dataDirectory + "/RESTORE_FAILED"))
            let given = "host=127.0.0.1 port=\(b.port) user=\(a.replicationUser) passfile=\(passfile) application_name=node_d"
            let completed = try await PGBackupBinary.run(
                ["follow", "--pgdata", d.dataDirectory, "--primary-conninfo", given, "--json"], environment: environment)
            try #require(completed.status == 0, "stderr: \(completed.standardError)")
            #expect(try JSONDecoder().decode(FollowOutput.self, from: Data(completed.standardOutput.utf8)).action == "rejoined")
            let dConf = try String(contentsOfFile: d.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
            #expect(AutoConf.value(of: "primary_conninfo", in: dConf) == given, "\(dConf)")
            #expect(!FileManager.default.fileExists(atPath: d.dataDirectory + "/RESTORE_FAILED"))
            try await d.startServer()
            try await b.waitUntil("D to stream from B as node_d", timeout: .seconds(90)) {
                try await b.sql("SELECT count(*) FROM pg_stat_replication WHERE application_name = 'node_d' AND state = 'streaming'") == "1"
            }

            // 3. A comes back as a primary on timeline 1 and takes writes (its archiving off: how the
            //    repository keeps diverged WAL apart is tested on its own).
            let aAutoConfPath = a.dataDirectory + "/postgresql.auto.conf"
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: aAutoConfPath))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("archive_mode = off\n".utf8))
            try handle.close()
            try await a.startServer()
            try await a.sql("CREATE TABLE split_brain AS SELECT g FROM generate_series(1, 1000) g")
            let aAutoConf = try String(contentsOfFile: aAutoConfPath, encoding: .utf8)
            let refused = try await PGBackupBinary.run(["follow", "--pgdata", a.dataDirectory], environment: environment)
            #expect(refused.status == 1)
            #expect(refused.standardError.contains("stop it first (pg_ctl stop -m fast); follow never touches a running primary"), "\(refused.standardError)")
            #expect(try String(contentsOfFile: aAutoConfPath, encoding: .utf8) == aAutoConf)
            #expect(!FileManager.default.fileExists(atPath: a.dataDirectory + "/standby.signal"))
            #expect(try await a.sql("SELECT pg_is_in_recovery()") == "f")
            try await a.stop()

            // 4. A, stopped, is rejoined as B's standby by a delta restore.
            let rejoined = try await PGBackupBinary.run(["follow", "--pgdata", a.dataDirectory, "--json"], environment: environment)
            try #require(rejoined.status == 0, "stderr: \(rejoined.standardError)")
            #expect(!(rejoined.standardOutput + rejoined.standardError).contains(password))
            let result = try JSONDecoder().decode(FollowOutput.self, from: Data(rejoined.standardOutput.utf8))
            #expect(result.action == "rejoined")
            #expect(result.primary == "127.0.0.1:\(b.port)" && result.timeline == 2)
            let written = try #require(result.bytesWritten), total = try #require(result.bytesTotal)
            // A full restore writes every byte of the backup; the rejoin a small part of it.
            #expect(total > 30 << 20, "the backup holds \(total) bytes")
            #expect(written * 5 < total, "wrote \(written) of \(total) bytes")
            #expect(written + (result.bytesUnchanged ?? 0) == total)
            print("follow rejoin (\(kind)): wrote \(written) of \(total) bytes in \(result.seconds) s")
            let aConf = try String(contentsOfFile: aAutoConfPath, encoding: .utf8)
            #expect(!aConf.contains(password))
            #expect(FileManager.default.fileExists(atPath: a.dataDirectory + "/standby.signal"))
            // None of A's own WAL is left, and everything belongs to the server's user.
            let wal = try FileManager.default.contentsOfDirectory(atPath: a.dataDirectory + "/pg_wal").filter { $0.count == 24 }
            #expect(wal.isEmpty, "pg_wal still holds \(wal)")
            #expect(try Self.notOwned(by: a.serverUser.uid, in: a.dataDirectory).isEmpty)

            try setup.repository.letTheServerUse(a.serverUser)
            try await a.startServer()
            try await a.waitUntil("A to replay B's rows", timeout: .seconds(90)) {
                try await a.sql("SELECT count(*) FROM after_failover") == "500"
            }
            #expect(try await a.sql("SELECT pg_is_in_recovery()") == "t")
            #expect(try await a.sql("SELECT to_regclass('split_brain') IS NULL") == "t", "A kept its diverged rows")
            #expect(try await a.sql("SELECT count(*) FROM before_failover") == "1000")
            try await a.waitUntil("A to stream from B") {
                try await a.sql("SELECT status || ':' || sender_port FROM pg_stat_wal_receiver") == "streaming:\(b.port)"
            }
            try await b.sql("INSERT INTO after_failover SELECT g FROM generate_series(501, 600) g")
            try await a.waitUntil("A to receive B's new rows by streaming") {
                try await a.sql("SELECT count(*) FROM after_failover") == "600"
            }

            guard kind == .file else { return }
            // 5. Refusals, nothing changed: another cluster's directory, not a data directory,
            //    no primary reachable.
            try await withPostgresCluster(PostgresCluster.Options(name: "follow-other")) { other in
                let stranger = try await PGBackupBinary.run(["follow", "--pgdata", other.dataDirectory], environment: environment)
                #expect(stranger.status == 1)
                #expect(stranger.standardError.contains("directory of another cluster"), "\(stranger.standardError)")
            }
            let plain = scratch.path + "/plain"
            try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
            let notData = try await PGBackupBinary.run(["follow", "--pgdata", plain], environment: environment)
            #expect(notData.status == 1)
            #expect(notData.standardError.contains("not a PostgreSQL data directory (no PG_VERSION)"), "\(notData.standardError)")
            try await a.stop()
            try await b.stop()
            try await d.stop()
            let cBefore = try String(contentsOfFile: c.dataDirectory + "/postgresql.auto.conf", encoding: .utf8)
            let nobody = try await PGBackupBinary.run(["follow", "--pgdata", c.dataDirectory], environment: environment)
            #expect(nobody.status == 1)
            #expect(nobody.standardError.contains("no primary found"), "\(nobody.standardError)")
            #expect(nobody.standardError.contains("127.0.0.1:\(a.port)") && nobody.standardError.contains("127.0.0.1:\(b.port)"))
            #expect(!(nobody.standardOutput + nobody.standardError).contains(password))
            #expect(try String(contentsOfFile: c.dataDirectory + "/postgresql.auto.conf", encoding: .utf8) == cBefore)
        }
    }

    /// A rejoin puts the node's own configuration back before pg_control, while RESTORE_FAILED is
    /// there: when that fails, the directory never looks complete (it used to be written after
    /// the restore had finished, leaving a startable directory with the backed-up server's
    /// configuration). The node keeps `node.conf` as a symbolic link; the backed-up cluster has a
    /// directory of that name, which the restore puts in its place, and the link cannot come back.
    @Test func aRejoinThatCannotPutTheNodesConfigurationBackNeverLooksComplete() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        var options = WALPushFetchEndToEndTests.archivingOptions(config: scratch.path + "/pgbackup.yaml")
        options.name = "follow-kept"
        try await withPostgresCluster(options) { a in
            let setup = try await WALPushFetchEndToEndTests.ArchiveSetup.make(.file, in: scratch, for: a)
            try FileManager.default.createDirectory(atPath: a.dataDirectory + "/node.conf", withIntermediateDirectories: false)
            try Data("the backed-up server's\n".utf8).write(to: URL(fileURLWithPath: a.dataDirectory + "/node.conf/inside"))
            try a.serverUser.takeOwnership(ofTree: a.dataDirectory + "/node.conf")
            var environment = setup.repository.environment
            environment["PGBACKUP_CONNINFO"] = a.conninfo(replication: true)
            environment["PGBACKUP_SPOOL"] = scratch.path + "/spool"
            let backup = try await PGBackupBinary.run(["backup"], environment: environment)
            try #require(backup.status == 0, "\(backup.standardError)")
            try setup.repository.letTheServerUse(a.serverUser)

            // D: a rejoin that did not complete, whose node keeps node.conf as a link.
            let d = scratch.path + "/d"
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            let identifier = try await a.sql("SELECT system_identifier FROM pg_control_system()")
            try Data("pgbackup is restoring backup … into this directory\nsystem identifier: \(identifier)\n".utf8)
                .write(to: URL(fileURLWithPath: d + "/RESTORE_FAILED"))
            try FileManager.default.createSymbolicLink(atPath: d + "/node.conf", withDestinationPath: "/dev/null")
            try a.serverUser.takeOwnership(ofTree: d)

            let followed = try await PGBackupBinary.run(["follow", "--pgdata", d], environment: environment)
            #expect(followed.status == 1, "stdout: \(followed.standardOutput)")
            #expect(followed.standardError.contains("recreate the symbolic link"), "\(followed.standardError)")
            #expect(FileManager.default.fileExists(atPath: d + "/RESTORE_FAILED"), "the failed rejoin removed its marker")
            #expect(!FileManager.default.fileExists(atPath: d + "/global/pg_control"), "the failed rejoin left a startable directory")
            // The files and the recovery settings are there: only pg_control waits.
            #expect(FileManager.default.fileExists(atPath: d + "/PG_VERSION"))
            #expect(FileManager.default.fileExists(atPath: d + "/standby.signal"))
        }
    }

    @Test func usageAndConfigurationErrorsExitTwo() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let noDirectory = try await PGBackupBinary.run(["follow"], environment: ["PGBACKUP_REPO": "file://\(scratch.path)/repo"])
        #expect(noDirectory.status == 2)
        #expect(noDirectory.standardError.contains("--pgdata"), "\(noDirectory.standardError)")
        let noConninfo = try await PGBackupBinary.run(["follow", "--pgdata", scratch.path], environment: ["PGBACKUP_REPO": "file://\(scratch.path)/repo"])
        #expect(noConninfo.status == 2)
        #expect(noConninfo.standardError.contains("PGBACKUP_CONNINFO"), "\(noConninfo.standardError)")
        let badJobs = try await PGBackupBinary.run(["follow", "--pgdata", scratch.path, "--jobs", "0"])
        #expect(badJobs.status == 2)
    }

    /// Switches `cluster` to a new segment and waits until its archive_command stored the one it
    /// left (an attempt may fail first: the backup, run as root, stores its own WAL, which the
    /// server's user can read only once the test hands the repository over).
    static func archiveCurrentSegment(of cluster: PostgresCluster) async throws {
        let segment = try await cluster.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")
        try await cluster.sql("SELECT pg_switch_wal()")
        try await cluster.waitUntil("\(segment) archived") {
            try await cluster.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver") >= segment
        }
    }

    /// An SQL string literal.
    static func literal(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

    /// Entries under `root` (links not followed) whose owner is not `uid`.
    static func notOwned(by uid: uid_t, in root: String) throws -> [String] {
        var strangers: [String] = []
        func visit(_ path: String) throws {
            var info = stat()
            guard lstat(path, &info) == 0 else { return }
            if info.st_uid != uid { strangers.append(path) }
            guard info.st_mode & S_IFMT == S_IFDIR else { return }
            for name in try FileManager.default.contentsOfDirectory(atPath: path) { try visit(path + "/" + name) }
        }
        try visit(root)
        return strangers
    }
}
