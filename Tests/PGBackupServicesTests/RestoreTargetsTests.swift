import Foundation
import PGBackupFoundations
import PGBackupRepository
import Testing
@testable import PGBackupServices

#if canImport(Glibc)
import Glibc
#endif

/// `RestoreTargets`: what each mode may write into, decided before anything is written.
@Suite("Restore targets")
struct RestoreTargetsTests {
    static let cluster: SystemIdentifier = 7_311_234_567_890_123_456

    /// A scratch directory with `data` and `ts` paths (not created) and a plan for them.
    struct Fixture {
        let base = FileManager.default.temporaryDirectory.path + "/restore-targets-\(UUID().uuidString)"
        var data: String { base + "/data" }
        var tablespace: String { base + "/ts" }

        func plan() throws -> RestorePlan {
            let manifest = try RestorePlanTests.manifest(
                [RestorePlanTests.control, RestorePlanTests.chunked("PG_15/5/1", tablespace: 16390, [(0, 10, "x")])],
                tablespaces: [.init(oid: 16390, location: "/srv/ts")])
            return try RestorePlan(manifest, dataDirectory: data, tablespaceDirectories: [16390: tablespace])
        }

        func write(_ relative: String, _ bytes: [UInt8]) throws {
            let path = base + "/" + relative
            try FileManager.default.createDirectory(atPath: FileSystem.directory(of: path), withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        }

        /// A pg_control whose first 8 bytes are `identifier` (the machine's byte order).
        func control(_ identifier: SystemIdentifier) throws {
            var bytes = withUnsafeBytes(of: identifier.rawValue) { Array($0) }
            bytes += Array(repeating: 0, count: 8184)
            try write("data/global/pg_control", bytes)
        }

        func check(_ mode: RestoreWriter.Mode) throws -> RestoreError? {
            do {
                try RestoreTargets.check(try plan(), systemIdentifier: RestoreTargetsTests.cluster, mode: mode)
                return nil
            } catch let error as RestoreError {
                return error
            }
        }

        func remove() { try? FileManager.default.removeItem(atPath: base) }
    }

    @Test func deltaWritesOnlyIntoACopyOfTheSameCluster() throws {
        let fixture = Fixture()
        defer { fixture.remove() }
        // Absent, then empty: a plain restore.
        #expect(try fixture.check(.delta) == nil)
        try FileManager.default.createDirectory(atPath: fixture.data, withIntermediateDirectories: true)
        #expect(try fixture.check(.delta) == nil)

        // No pg_control and no marker: not a data directory.
        try fixture.write("data/precious", Array("keep".utf8))
        guard case .notSameCluster(fixture.data, Self.cluster, let reason)? = try fixture.check(.delta) else {
            Issue.record("not refused")
            return
        }
        #expect(reason == "it has no global/pg_control: it is not a data directory")
        #expect(RestoreError.notSameCluster(path: fixture.data, systemIdentifier: Self.cluster, reason: reason).description.contains("HINT: --delta updates an older copy of the backup's own cluster (system identifier \(Self.cluster))"))

        // The marker an interrupted restore of another cluster left: refused; of this one: fine.
        try fixture.write("data/RESTORE_FAILED", Array("pgbackup is restoring…\nsystem identifier: 42\n".utf8))
        #expect(try fixture.check(.delta) == .notSameCluster(
            path: fixture.data, systemIdentifier: Self.cluster, reason: "it has no global/pg_control, and its RESTORE_FAILED is not of a restore of this cluster"))
        try fixture.write("data/RESTORE_FAILED", Array("pgbackup is restoring…\nsystem identifier: \(Self.cluster)\n".utf8))
        #expect(try fixture.check(.delta) == nil)

        // pg_control decides when it is there.
        try fixture.control(42)
        #expect(try fixture.check(.delta) == .notSameCluster(
            path: fixture.data, systemIdentifier: Self.cluster, reason: "it is a data directory of another cluster (system identifier 42)"))
        try fixture.control(Self.cluster)
        #expect(try fixture.check(.delta) == nil)

        // A tablespace directory holds PostgreSQL's PG_* directories only.
        try fixture.write("ts/PG_15_202209061/5/1", [1])
        #expect(try fixture.check(.delta) == nil)
        try fixture.write("ts/notes.txt", [1])
        #expect(try fixture.check(.delta) == .notSameCluster(
            path: fixture.tablespace, systemIdentifier: Self.cluster, reason: "it holds 'notes.txt', which PostgreSQL never puts in a tablespace directory"))

        // A live postmaster stops delta and replace alike; fresh refuses the non-empty directory.
        try FileManager.default.removeItem(atPath: fixture.tablespace + "/notes.txt")
        try fixture.write("data/postmaster.pid", Array("\(getpid())\n\(fixture.data)\n".utf8))
        #expect(try fixture.check(.delta) == .serverRunning(dataDirectory: fixture.data, pid: getpid()))
        #expect(try fixture.check(.replace) == .serverRunning(dataDirectory: fixture.data, pid: getpid()))
        #expect(try fixture.check(.fresh) == .directoryNotEmpty(path: fixture.data))
        // A stale one (no such process) does not.
        try fixture.write("data/postmaster.pid", Array("2147483646\n\(fixture.data)\n".utf8))
        #expect(try fixture.check(.delta) == nil && fixture.check(.replace) == nil)
    }

    @Test func theMarkerNamesTheCluster() {
        #expect(RestoreMarker.systemIdentifier(in: "text\nsystem identifier: 7311234567890123456\n\n") == 7_311_234_567_890_123_456)
        #expect(RestoreMarker.systemIdentifier(in: "an older marker without it\n") == nil)
        #expect(RestoreMarker.systemIdentifier(in: "system identifier: nonsense\n") == nil)
    }
}
