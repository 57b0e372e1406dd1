import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Test harness: real PostgreSQL clusters")
struct HarnessTests {
    @Test func startsRunsSQLAndStopsAndCleansUp() async throws {
        var base = ""
        var dataDirectory = ""
        try await withPostgresCluster(.init(name: "basic")) { cluster in
            base = cluster.baseDirectory
            dataDirectory = cluster.dataDirectory
            #expect(cluster.isRunning)
            #expect(try await cluster.sql("SHOW wal_level") == "replica")
            #expect(try await cluster.sql("SELECT current_setting('port')") == String(cluster.port))
            #expect(try await cluster.sql("SELECT current_user") == cluster.superuser)

            // Each statement is its own transaction: CREATE DATABASE works next to other statements.
            try await cluster.sql("CREATE DATABASE harness_db", "CREATE TABLE t (id int, name text)")
            try await cluster.sql(
                "CREATE TABLE u (a int, b text, c text)", "INSERT INTO u VALUES (1, NULL, 'x y'), (2, 'b', '')",
                database: "harness_db")
            #expect(try await cluster.rows("SELECT a, b, c FROM u ORDER BY a", database: "harness_db")
                == [["1", "", "x y"], ["2", "b", ""]])
            #expect(try await cluster.sql("SELECT count(*) FROM pg_database WHERE datname = 'harness_db'") == "1")

            if geteuid() == 0 {
                // PostgreSQL refuses root: the data directory belongs to the unprivileged server user.
                let owner = try FileManager.default.attributesOfItem(atPath: cluster.dataDirectory)[.ownerAccountName] as? String
                #expect(owner == cluster.serverUser.name)
                #expect(cluster.serverUser.name != "root")
            }

            try await cluster.stop()
            #expect(!cluster.isRunning)
            await #expect(throws: PostgresClusterError.self) { try await cluster.sql("SELECT 1") }
            try await cluster.startServer()
            #expect(try await cluster.sql("SELECT count(*) FROM pg_database WHERE datname = 'harness_db'") == "1")
        }
        #expect(!base.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: base))
        #expect(!FileManager.default.fileExists(atPath: dataDirectory))
    }

    @Test func cleansUpWhenTheTestThrows() async throws {
        struct Boom: Error {}
        var base = ""
        var postmaster: pid_t = 0
        await #expect(throws: Boom.self) {
            try await withPostgresCluster(.init(name: "throws")) { cluster in
                base = cluster.baseDirectory
                let pidFile = try String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8)
                postmaster = pid_t(pidFile.split(separator: "\n")[0]) ?? 0
                throw Boom()
            }
        }
        #expect(postmaster > 0)
        #expect(!base.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: base))
        // The postmaster is gone (or a zombie waiting for a reaper).
        let stat = try? String(contentsOfFile: "/proc/\(postmaster)/stat", encoding: .utf8)
        #expect(stat == nil || stat!.contains(") Z "))
    }

    @Test func aClusterThatIsNeverDestroyedIsRemovedByDeinit() async throws {
        var base = ""
        var postmaster: pid_t = 0
        do {
            let cluster = try await PostgresCluster.start(.init(name: "deinit"))
            base = cluster.baseDirectory
            let pidFile = try String(contentsOfFile: cluster.dataDirectory + "/postmaster.pid", encoding: .utf8)
            postmaster = pid_t(pidFile.split(separator: "\n")[0]) ?? 0
            #expect(try await cluster.sql("SELECT 1") == "1")
        }
        #expect(postmaster > 0)
        #expect(!base.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: base))
        let stat = try? String(contentsOfFile: "/proc/\(postmaster)/stat", encoding: .utf8)
        #expect(stat == nil || stat!.contains(") Z "))
    }

    @Test func aServerThatCannotStartFailsWithItsLogAndLeavesNothing() async throws {
        let error = try await #require(throws: PostgresClusterError.self) {
            try await withPostgresCluster(.init(name: "badconf", settings: ["shared_buffers": "'plenty'"])) { _ in
                Issue.record("a cluster with shared_buffers = 'plenty' started")
            }
        }
        let text = error.description
        #expect(text.contains("unable to start PostgreSQL"))
        #expect(text.contains("--- server log (tail) ---"))
        #expect(text.contains("invalid value for parameter \"shared_buffers\""))
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("pgbackup-badconf-") }
        #expect(leftovers.isEmpty)
    }

    @Test func crashAndRestartRunsCrashRecovery() async throws {
        try await withPostgresCluster(.init(name: "crash")) { cluster in
            try await cluster.sql("CREATE TABLE kept (id int)", "INSERT INTO kept SELECT generate_series(1, 1000)")
            try await cluster.crash()
            #expect(!cluster.isRunning)
            await #expect(throws: PostgresClusterError.self) { try await cluster.sql("SELECT 1") }

            try await cluster.startServer()
            #expect(cluster.isRunning)
            // Committed before the crash, so replayed from WAL.
            #expect(try await cluster.sql("SELECT count(*) FROM kept") == "1000")
            #expect(cluster.logTail(lines: 200).contains("not properly shut down"))

            try await cluster.restart()
            #expect(try await cluster.sql("SELECT count(*) FROM kept") == "1000")
        }
    }

    @Test func standbyStreamsFromItsPrimary() async throws {
        try await withPostgresCluster(.init(name: "primary")) { primary in
            let standby = try await primary.makeStandby()
            #expect(standby.port != primary.port)
            #expect(standby.dataDirectory != primary.dataDirectory)
            #expect(try await standby.sql("SELECT pg_is_in_recovery()") == "t")
            #expect(try await primary.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") == "1")

            try await primary.sql("CREATE TABLE replicated (v text)", "INSERT INTO replicated VALUES ('from the primary')")
            try await standby.waitForReplay(of: primary)
            #expect(try await standby.sql("SELECT v FROM replicated") == "from the primary")
            // A standby is read-only.
            await #expect(throws: PostgresClusterError.self) { try await standby.sql("INSERT INTO replicated VALUES ('x')") }
        }
    }

    @Test func promotedStandbyMovesToTimelineTwo() async throws {
        try await withPostgresCluster(.init(name: "promote")) { primary in
            let standby = try await primary.makeStandby(slot: "standby_slot")
            #expect(try await primary.sql("SELECT active FROM pg_replication_slots WHERE slot_name = 'standby_slot'") == "t")
            try await standby.promote()
            #expect(try await standby.sql("SELECT pg_is_in_recovery()") == "f")
            try await standby.sql("CREATE TABLE after_promotion (id int)", "INSERT INTO after_promotion VALUES (1)")

            let promoted = try PostgresConnection(conninfo: standby.conninfo(replication: true), replication: .physical)
            let old = try PostgresConnection(conninfo: primary.conninfo(replication: true), replication: .physical)
            let promotedIdentity = try promoted.identifySystem()
            let oldIdentity = try old.identifySystem()
            #expect(promotedIdentity.timeline == TimelineID(2))
            #expect(oldIdentity.timeline == TimelineID(1))
            #expect(promotedIdentity.systemIdentifier == oldIdentity.systemIdentifier)
        }
    }
}

@Suite("Test harness: running processes")
struct ProcessRunnerTests {
    @Test func capturesStatusOutputAndInput() async throws {
        let echo = try await runProcess("/bin/cat", [], standardInput: Data("hello\nworld".utf8))
        #expect(echo.succeeded)
        #expect(echo.standardOutput == "hello\nworld")

        let failing = try await runProcess("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(failing.status == 3)
        #expect(!failing.succeeded)
        #expect(failing.standardOutput == "out\n")
        #expect(failing.standardError == "err\n")
        #expect(throws: ProcessError.self) { try failing.checked() }

        let environment = try await runProcess("/bin/sh", ["-c", "printf %s \"$ONLY_THIS\""], environment: ["ONLY_THIS": "value"])
        #expect(environment.standardOutput == "value")
    }

    @Test func largeOutputDoesNotDeadlock() async throws {
        let result = try await runProcess(
            "/bin/sh", ["-c", "head -c 3000000 /dev/zero | tr '\\000' a; head -c 500000 /dev/zero >&2"])
        #expect(result.succeeded)
        #expect(result.standardOutputData.count == 3_000_000)
        #expect(result.standardErrorData.count == 500_000)
    }

    // The child would sleep ten minutes: the time limit only catches a runner that waits for it.
    @Test(.timeLimit(.minutes(3))) func killsAChildThatOutlivesItsTimeout() async throws {
        let pidFile = NSTemporaryDirectory() + "/pgbackup-harness-\(UUID().uuidString).pid"
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let error = await #expect(throws: ProcessError.self) {
            try await runProcess("/bin/sh", ["-c", "echo $$ > '\(pidFile)'; exec /bin/sleep 600"], timeout: .seconds(2))
        }
        guard case let .timedOut(_, after, _, _)? = error else {
            Issue.record("expected timedOut, got \(String(describing: error))")
            return
        }
        #expect(after == .seconds(2))
        // Killed and reaped, not left running: its pid names no process any more. (A shell the
        // kill caught before its first command wrote no pid: it is gone all the same.)
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8) {
            let pid = try #require(pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(kill(pid, 0) == -1 && errno == ESRCH)
        }
    }

    @Test func reportsAMissingExecutable() async throws {
        await #expect(throws: ProcessError.self) {
            try await runProcess("/nonexistent/pgbackup-test-binary", [])
        }
    }
}
