import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing

/// BaseBackupStream against a real server (data checksums on) whose pages were damaged on disk:
/// the backup completes, every file is in it (the damaged pages as the server read them), and
/// `.finished` names the damaged pages instead of the server's XX001 error being thrown.
@Suite("BaseBackupStream: pages whose checksum fails")
struct BaseBackupChecksumFailureTests {
    @Test func damagedPagesInTheDataDirectoryAndATablespaceFinishTheBackupNamingThem() async throws {
        try await withPostgresCluster(.init(name: "checksums", settings: ["autovacuum": "off"])) { cluster in
            let (oid, quietPath) = try await cluster.makeQuietTablespace()
            try await cluster.sql(
                "CREATE TABLE plain (id int, payload text)",
                "INSERT INTO plain SELECT g, repeat('x', 200) FROM generate_series(1, 2000) g")
            let plainPath = try await cluster.damagePages(of: "plain", blocks: [1, 2, 4, 5, 6, 7, 9])
            try await cluster.damagePages(of: "quiet", blocks: [3])
            // The server sees the damage: reading the table fails.
            await #expect(throws: (any Error).self) { try await cluster.sql("SELECT count(*) FROM plain") }

            let conninfo = cluster.conninfo(replication: true)
            let damagedName = String(quietPath.split(separator: "/").dropFirst(2).joined(separator: "/"))
            let backup = try await BlockingIO.runLong {
                try takeBaseBackup(conninfo: conninfo, options: BaseBackupOptions(label: "damaged"), keep: [plainPath])
            }
            let failures = try #require(backup.checksumFailures)
            #expect(failures.total == 8)
            #expect(failures.files == [
                .init(path: damagedName, tablespace: oid, pages: 1, blocks: [3]),
                .init(path: plainPath, pages: 7, blocks: [1, 2, 4, 5, 6]),
            ])
            #expect(backup.shape.last == "finished" && backup.shape.contains("manifestData"))
            #expect(!backup.manifest.isEmpty)

            // The damaged file is in the backup byte for byte as on disk (damage included).
            let sent = try #require(backup.archive("base.tar")?.entries[plainPath]?.content)
            let onDisk = try #require(FileManager.default.contents(atPath: cluster.dataDirectory + "/" + plainPath))
            #expect(sent == Array(onDisk))
        }
    }

    @Test func aCleanServerFinishesWithoutFailures() async throws {
        try await withPostgresCluster(.init(name: "checksums-clean")) { cluster in
            try await cluster.sql("CREATE TABLE plain AS SELECT g AS id FROM generate_series(1, 1000) g")
            let conninfo = cluster.conninfo(replication: true)
            let backup = try await BlockingIO.runLong {
                try takeBaseBackup(conninfo: conninfo, options: BaseBackupOptions(label: "clean"))
            }
            #expect(backup.checksumFailures == nil)
        }
    }
}
