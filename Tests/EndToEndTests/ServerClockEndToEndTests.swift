import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupTestSupport
@testable import PGBackupServices

#if canImport(Glibc)
import Glibc
#endif

/// Times come from the server's clock, not pgbackup's: with PostgreSQL's clock two days behind
/// pgbackup's (libfaketime, Debian's `faketime`), a backup's start and stop, the restorable
/// window's end and the refusal of a time beyond it all follow PostgreSQL's clock.
///
/// The server runs skewed rather than pgbackup: libfaketime 0.9.10 also rewrites the absolute
/// deadlines libdispatch gives `timerfd_settime` on its monotonic clocks (to a negative time, or
/// two days on), so a Swift binary under it hangs at its first timer. Skewing either side puts
/// the two clocks apart alike.
@Suite("Times come from the server's clock, end to end", .serialized)
struct ServerClockEndToEndTests {
    /// How far the server's clock is from pgbackup's.
    static let skew = "-2d"

    /// Restarts the cluster's server with libfaketime preloaded (pg_ctl passes it on to every
    /// server process), and waits until it accepts connections. (Not through the `faketime`
    /// command: it waits for every process it started, the server included.)
    static func restartSkewed(_ cluster: PostgresCluster) async throws {
        let library = try #require(
            ["x86_64", "aarch64"].map { "/usr/lib/\($0)-linux-gnu/faketime/libfaketime.so.1" }.first { FileManager.default.fileExists(atPath: $0) },
            "libfaketime is missing: scripts/install-deps test installs Debian's faketime")
        try await cluster.stop()
        let (executable, arguments) = cluster.serverUser.command(
            "/usr/bin/env", ["LD_PRELOAD=\(library)", "FAKETIME=\(skew)",
                             cluster.binaries.path("pg_ctl"), "start", "-W", "-D", cluster.dataDirectory, "-l", cluster.logFile])
        let started = try await runProcess(executable, arguments, currentDirectory: cluster.baseDirectory)
        try #require(started.status == 0, "faketime pg_ctl start: \(started.standardError)")
        try await cluster.waitUntil("the skewed server accepts connections") { try await cluster.sql("SELECT 1") == "1" }
    }

    /// The server's clock now.
    static func serverClock(_ cluster: PostgresCluster) async throws -> Date {
        Date(timeIntervalSince1970: try #require(Double(try await cluster.sql("SELECT extract(epoch FROM clock_timestamp())"))))
    }

    @Test func backupTimesAndTheRestorableWindowFollowTheServersClock() async throws {
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        try await withPostgresCluster(RestoreEndToEndTests.options) { cluster in
            try await Self.restartSkewed(cluster)
            // The skew is real: the server's clock reads two days behind ours.
            #expect(try await Self.serverClock(cluster) < Date().addingTimeInterval(-86_400))
            let fixture = try await DaemonFixture(.file, cluster: cluster, scratch: scratch)
            let daemon = try fixture.startDaemon()
            defer { daemon.send(SIGKILL) }
            try await cluster.sql("CREATE TABLE rows (batch int, id int)")
            _ = try await RestoreEndToEndTests.commitBatch(1, on: cluster)

            // The backup's start and stop lie between two readings of the server's clock.
            let before = try await Self.serverClock(cluster)
            let summary = try await backupSummary(fixture)
            let after = try await Self.serverClock(cluster)
            let manifest = try await BackupCatalog(repository: try fixture.repository.mainServer).manifest(summary.id)
            // (backup_label's START TIME is whole seconds.)
            #expect(before.addingTimeInterval(-1) <= manifest.startTime, "start \(manifest.startTime) before \(before)")
            #expect(manifest.startTime <= manifest.stopTime)
            #expect(manifest.stopTime <= after, "stop \(manifest.stopTime) after \(after)")

            // A time between two later commits restores from that backup: its stop is the server's.
            let b2 = try await RestoreEndToEndTests.commitBatch(2, on: cluster)
            let b3 = try await RestoreEndToEndTests.commitBatch(3, on: cluster)
            try await fixture.waitForArchive(of: try await fixture.switchSegment(), daemon: daemon)
            daemon.send(SIGTERM)
            let stopped = try await daemon.wait()
            #expect(stopped.status == 0, "\(stopped.standardError.suffix(2000))")
            let end = try await Self.serverClock(cluster)
            try await RestoreEndToEndTests.letTheServerRead(fixture)
            let between = b2.committed.addingTimeInterval(b3.committed.timeIntervalSince(b2.committed) / 2)
            #expect(try await RestoreEndToEndTests.restoreAndCount(fixture, ["--target-time", RestoreTimeText.of(between)], name: "between")
                == RestoreEndToEndTests.expected(1...2))

            // Beyond the last recorded server time: refused before anything is written, naming that
            // time — though the storage's modification times (our clock) lie two days later.
            let never = scratch.path + "/never"
            let refused = try await PGBackupBinary.run(
                ["restore", "--pgdata", never, "--target-time", RestoreTimeText.of(end.addingTimeInterval(60))], environment: fixture.environment)
            #expect(refused.status == 1, "\(refused.standardError)")
            #expect(!FileManager.default.fileExists(atPath: never))
            let marker = "after the last recorded server time "
            let named = try #require(refused.standardError.range(of: marker).map { refused.standardError[$0.upperBound...] }, "\(refused.standardError)")
            let words = named.split(separator: " ")
            let last = try RestoreTime.parse(words[0] + " " + words[1])
            #expect(b3.committed <= last && last <= end, "last recorded \(last), b3 committed \(b3.committed), server now \(end)")
        }
    }
}
