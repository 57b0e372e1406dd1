import Foundation
import PGBackupFoundations
import Testing
@testable import PGBackupRepository

/// `backup.json`'s optional `checksumFailures`: absent in older documents, which still decode;
/// present, it makes the backup's summary say so.
@Suite("Backup manifest: checksum failures")
struct BackupManifestChecksumFailuresTests {
    let id = try! BackupID(parsing: "20261207T101500Z")
    static let failures = PageChecksumFailures(total: 9, files: [
        .init(path: "base/5/16384", pages: 8, blocks: [1, 3, 5, 6, 7]),
        .init(path: "PG_15_202209061/5/16385", tablespace: 16384, pages: 1, blocks: [2]),
    ])

    /// A document as pgbackup wrote it before checksum failures were recorded (the sample
    /// manifest's JSON, without the key).
    func olderDocument() throws -> [UInt8] {
        let bytes = try RepositoryJSON.encode(sampleManifest(id: id))
        #expect(!String(decoding: bytes, as: UTF8.self).contains("checksumFailures"))
        return bytes
    }

    @Test
    func anOlderDocumentDecodesWithoutFailuresAndItsSummaryIsComplete() throws {
        let manifest = try RepositoryJSON.decode(BackupManifest.self, from: try olderDocument())
        #expect(manifest.checksumFailures == nil)
        #expect(manifest == sampleManifest(id: id))
        let head = try RepositoryJSON.decode(BackupManifest.Head.self, from: try olderDocument())
        #expect(head.checksumFailures == nil)
        #expect(BackupSummary(head).status == .complete)
        #expect(BackupSummary(head).checksumFailures == nil)
    }

    @Test
    func failuresRoundTripInTheDocumentsShape() throws {
        var manifest = sampleManifest(id: id)
        manifest.checksumFailures = Self.failures
        let bytes = try RepositoryJSON.encode(manifest)
        #expect(try RepositoryJSON.decode(BackupManifest.self, from: bytes) == manifest)

        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let failures = try #require(object["checksumFailures"] as? [String: Any])
        #expect(failures.keys.sorted() == ["files", "total"])
        #expect(failures["total"] as? Int == 9)
        let files = try #require(failures["files"] as? [[String: Any]])
        #expect(files.count == 2)
        #expect(files[0].keys.sorted() == ["blocks", "pages", "path"])
        #expect(files[0]["path"] as? String == "base/5/16384" && files[0]["pages"] as? Int == 8)
        #expect(files[0]["blocks"] as? [Int] == [1, 3, 5, 6, 7])
        #expect(files[1].keys.sorted() == ["blocks", "pages", "path", "tablespace"])
        #expect(files[1]["tablespace"] as? Int == 16384)
    }

    @Test
    func theSummaryOfABackupWithFailuresIsNeverComplete() throws {
        var manifest = sampleManifest(id: id)
        manifest.checksumFailures = Self.failures
        let head = try RepositoryJSON.decode(BackupManifest.Head.self, from: try RepositoryJSON.encode(manifest))
        #expect(head == manifest.head)
        let summary = BackupSummary(head)
        #expect(summary.status == .checksumFailures && summary.status.rawValue == "checksum-failures")
        #expect(summary.checksumFailures == Self.failures)
        #expect(summary == BackupSummary(manifest))
        // In `list --json`, as the summary encodes.
        let text = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        #expect(text.contains(#""status":"checksum-failures""#) && text.contains(#""checksumFailures":{"#), "\(text)")
        #expect(try JSONDecoder().decode(BackupSummary.self, from: Data(text.utf8)) == summary)
        #expect(Self.failures.summary
            == "9 pages in 2 files: base/5/16384 (8 pages: blocks 1, 3, 5, 6, 7, …), pg_tblspc/16384/PG_15_202209061/5/16385 (1 page: block 2)")
    }
}
