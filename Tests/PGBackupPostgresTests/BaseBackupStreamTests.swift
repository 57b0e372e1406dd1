import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// BaseBackupStream against a real PostgreSQL 15 server: a pgbench database with a second
/// tablespace, checked against the server's own manifest and the files on disk.
///
/// The backups run on `BlockingIO` threads, never on the cooperative pool.
@Suite("BaseBackupStream: a whole backup")
struct BaseBackupStreamTests {
    @Test func backsUpEveryTablespaceMatchingTheManifestAndTheDisk() async throws {
        // No autovacuum: the quiet table must not change between the backup and the comparison.
        try await withPostgresCluster(.init(name: "basebackup", settings: ["autovacuum": "off"])) { cluster in
            try await cluster.pgbench(["-i", "-s", "1", "-q"])
            let (oid, quietPath) = try await cluster.makeQuietTablespace()
            let location = cluster.quietTablespaceLocation
            let tablespacePrefix = "pg_tblspc/\(oid)/"
            #expect(quietPath.hasPrefix(tablespacePrefix))
            let quietName = String(quietPath.dropFirst(tablespacePrefix.count))
            let before = try await cluster.currentWALLSN()

            let label = #"nightly "full" it's a \ test"#
            let conninfo = cluster.conninfo(replication: true)
            let backup = try await BlockingIO.runLong {
                try takeBaseBackup(
                    conninfo: conninfo, options: BaseBackupOptions(label: label),
                    keep: ["backup_label", "tablespace_map", "PG_VERSION"])
            }
            let after = try await cluster.currentWALLSN()

            // Positions: the backup lies between the positions read before and after it.
            #expect(before <= backup.start)
            #expect(backup.start <= backup.end)
            #expect(backup.end <= after)
            #expect(backup.startTimeline == TimelineID(1))
            #expect(backup.endTimeline == TimelineID(1))

            // Order of events, and the archives: the tablespace's first, then base.tar.
            let tablespaceArchive = "\(oid).tar"
            #expect(backup.shape == [
                "started", "tablespaces", "archive \(tablespaceArchive)", "data", "archive base.tar", "data",
                "manifest", "manifestData", "finished",
            ])
            #expect(backup.tablespaces.map(\.oid) == [oid, nil])
            #expect(backup.tablespaces.map(\.location) == [location, nil])
            #expect(backup.archives.map(\.name) == [tablespaceArchive, "base.tar"])
            #expect(backup.archives.map(\.location) == [location, nil])

            // Progress: never decreasing, ending exactly at the archive bytes received, near the estimate.
            let estimate = backup.tablespaces.compactMap(\.estimatedSize).reduce(0, +)
            #expect(backup.tablespaces.allSatisfy { $0.estimatedSize != nil })
            #expect(backup.progress.count >= 2, "one progress report at the end of each archive at least")
            #expect(zip(backup.progress, backup.progress.dropFirst()).allSatisfy { $0 <= $1 }, "progress went backwards: \(backup.progress)")
            #expect(backup.progress.last == backup.archiveBytes)
            #expect(abs(Double(backup.archiveBytes - estimate)) < 0.1 * Double(estimate),
                    "sent \(backup.archiveBytes) bytes, estimated \(estimate)")

            // The main archive.
            let base = try #require(backup.archive("base.tar"))
            #expect(base.entries["PG_VERSION"]?.content == Array("\(cluster.major)\n".utf8))
            #expect(base.entries["global/pg_control"]?.size == 8192)
            // With TABLESPACE_MAP the server leaves the pg_tblspc links out: tablespace_map replaces them.
            #expect(base.entries["pg_tblspc"]?.type == .directory)
            #expect(base.entries["pg_tblspc/\(oid)"] == nil)
            let backupLabel = String(decoding: try #require(base.entries["backup_label"]?.content), as: UTF8.self)
            #expect(backupLabel.contains("START WAL LOCATION: \(backup.start) (file "), "\(backupLabel)")
            #expect(backupLabel.contains("START TIMELINE: 1\n"))
            #expect(backupLabel.contains("LABEL: \(label)\n"), "the label went through the quoting intact: \(backupLabel)")
            let tablespaceMap = String(decoding: try #require(base.entries["tablespace_map"]?.content), as: UTF8.self)
            #expect(tablespaceMap == "\(oid) \(location)\n")

            // The tablespace's archive holds the quiet table, byte for byte as on disk.
            let tablespace = try #require(backup.archive(tablespaceArchive))
            let quiet = try #require(tablespace.entries[quietName], "\(quietName) missing from \(tablespaceArchive)")
            #expect(quiet.size > 1_000_000)
            #expect(quiet.sha256 == (try sha256OfFile(location + "/" + quietName)))

            // PostgreSQL 15 ends each archive with tar's two zero blocks.
            #expect(backup.archives.map(\.hadEndMarker) == [true, true])

            let systemIdentifier = try await cluster.sql("SELECT system_identifier FROM pg_control_system()")
            try checkManifest(backup, tablespaceOID: oid, major: cluster.major, systemIdentifier: systemIdentifier)
        }
    }

    /// The manifest: JSON of version 1 (2 with the cluster's System-Identifier from 17 on) whose
    /// files are exactly the archives' regular files, with the same sizes and SHA-256, whose WAL
    /// range is the backup's, and whose own checksum holds.
    private func checkManifest(_ backup: CollectedBackup, tablespaceOID oid: UInt32, major: Int, systemIdentifier: String) throws {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(backup.manifest)) as? [String: Any])
        #expect(json["PostgreSQL-Backup-Manifest-Version"] as? Int == (major >= 17 ? 2 : 1))
        #expect((json["System-Identifier"] as? NSNumber)?.stringValue == (major >= 17 ? systemIdentifier : nil))
        let files = try #require(json["Files"] as? [[String: Any]])

        var archived: [String: CollectedEntry] = [:]
        for archive in backup.archives {
            let prefix = archive.name == "base.tar" ? "" : "pg_tblspc/\(oid)/"
            for (name, entry) in archive.entries where entry.type == .file { archived[prefix + name] = entry }
        }
        var listed: Set<String> = []
        for file in files {
            let path = try #require(file["Path"] as? String)
            listed.insert(path)
            guard let entry = archived[path] else {
                Issue.record("\(path) is in the manifest but in no archive")
                continue
            }
            #expect(file["Size"] as? Int == Int(entry.size), "\(path)")
            #expect(file["Checksum-Algorithm"] as? String == "SHA256", "\(path)")
            #expect(file["Checksum"] as? String == entry.sha256.description, "\(path)")
        }
        #expect(listed == Set(archived.keys), "files in the archives but not in the manifest: \(Set(archived.keys).subtracting(listed))")
        #expect(listed.contains("backup_label") && listed.contains("global/pg_control"))
        #expect(listed.contains { $0.hasPrefix("pg_tblspc/\(oid)/PG_\(major)_") })

        let ranges = try #require(json["WAL-Ranges"] as? [[String: Any]])
        #expect(ranges.count == 1)
        #expect(ranges.first?["Timeline"] as? Int == 1)
        #expect(ranges.first?["Start-LSN"] as? String == backup.start.description)
        #expect(ranges.first?["End-LSN"] as? String == backup.end.description)

        // "Manifest-Checksum": the SHA-256 of everything up to and including the newline that
        // precedes its own line (pg_verifybackup's rule).
        let newlines = backup.manifest.indices.filter { backup.manifest[$0] == UInt8(ascii: "\n") }
        try #require(newlines.count >= 2)
        let covered = backup.manifest[...newlines[newlines.count - 2]]
        #expect(json["Manifest-Checksum"] as? String == SHA256Hasher.hash(Array(covered)).description)
    }
}
