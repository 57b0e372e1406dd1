import Foundation
import Testing
import PGBackupRepository

/// The head of PostgreSQL's `backup_manifest`: version 1 (15, 16) without a system identifier,
/// version 2 (17+) with one, checked against the cluster's.
@Suite("backup: the server's backup_manifest head")
struct ServerManifestHeaderTests {
    /// The head as the server writes it (backup_manifest.c), then one file entry.
    static func manifest(version: Int, system: String?) -> [UInt8] {
        var text = "{ \"PostgreSQL-Backup-Manifest-Version\": \(version),\n"
        if let system { text += "\"System-Identifier\": \(system),\n" }
        text += "\"Files\": [\n{ \"Path\": \"System-Identifier\", \"Size\": 3, \"Last-Modified\": \"2026-12-07 10:00:00 GMT\" }\n],\n"
        text += "\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", \"End-LSN\": \"0/2000100\" }\n],\n\"Manifest-Checksum\": \"00\"}\n"
        return Array(text.utf8)
    }

    @Test func versionOneHasNoSystemIdentifierAndPasses() throws {
        let header = try ServerManifestHeader(parsing: Self.manifest(version: 1, system: nil))
        #expect(header == ServerManifestHeader(version: 1, systemIdentifier: nil))
        try header.check(systemIdentifier: 7_447_335_128_424_424_424, source: "the repository's")
    }

    @Test func versionTwoWithTheClustersIdentifierPasses() throws {
        // The largest identifiers do not fit a Double: read exactly.
        let header = try ServerManifestHeader(parsing: Self.manifest(version: 2, system: "18446744073709551557"))
        #expect(header.version == 2 && header.systemIdentifier == 18_446_744_073_709_551_557)
        try header.check(systemIdentifier: 18_446_744_073_709_551_557, source: "the repository's")
    }

    @Test func versionTwoWithAnotherClustersIdentifierIsRefusedNamingBoth() throws {
        let header = try ServerManifestHeader(parsing: Self.manifest(version: 2, system: "7447335128424424424"))
        #expect(throws: ServerManifestError.systemIdentifierMismatch(manifest: 7_447_335_128_424_424_424, expected: 7_447_335_128_424_424_425, source: "the repository's")) {
            try header.check(systemIdentifier: 7_447_335_128_424_424_425, source: "the repository's")
        }
        let error = ServerManifestError.systemIdentifierMismatch(manifest: 1, expected: 2, source: "the repository's")
        #expect(error.description == "the server's backup_manifest names system identifier 1, but the repository's is 2")
    }

    @Test func malformedUnknownOrIncompleteHeadsAreRefused() {
        #expect(throws: ServerManifestError.missingSystemIdentifier(version: 2)) {
            try ServerManifestHeader(parsing: Self.manifest(version: 2, system: nil))
        }
        #expect(throws: ServerManifestError.unsupportedVersion(3)) {
            try ServerManifestHeader(parsing: Self.manifest(version: 3, system: "1"))
        }
        for bad in [Self.manifest(version: 2, system: "-5"), Self.manifest(version: 2, system: "\"12\""), Array("not json".utf8), [],
                    Array("{ \"Files\": [] }".utf8)] {
            #expect(throws: ServerManifestError.self) { try ServerManifestHeader(parsing: bad) }
        }
    }
}
