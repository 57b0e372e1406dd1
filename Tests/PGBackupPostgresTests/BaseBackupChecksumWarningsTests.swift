import PGBackupFoundations
import PGBackupPostgres
import Testing

/// The WARNING notices of `BASE_BACKUP` about pages whose checksum failed, as PostgreSQL 15, 16
/// and 18 send them (copied from pg_basebackup's output against each), into `PageChecksumFailures`.
@Suite("base backup checksum warnings")
struct BaseBackupChecksumWarningsTests {
    /// PostgreSQL's warnings for 8 damaged pages of one file, in the order it sends them.
    static let eightInOneFile = [
        #"checksum verification failed in file "./base/5/16384", block 1: calculated 9FF but expected 4E83"#,
        #"checksum verification failed in file "./base/5/16384", block 3: calculated 1FEE but expected 22F8"#,
        #"checksum verification failed in file "./base/5/16384", block 5: calculated 8E9D but expected EA6B"#,
        #"checksum verification failed in file "./base/5/16384", block 6: calculated E562 but expected CB43"#,
        #"checksum verification failed in file "./base/5/16384", block 7: calculated 8D8F but expected 50BC"#,
        #"further checksum verification failures in file "./base/5/16384" will not be reported"#,
        #"file "./base/5/16384" has a total of 8 checksum verification failures"#,
        "8 total checksum verification failures",
    ]

    /// Records each message in turn; whether each was recognized.
    static func record(_ messages: [String], tablespaces: [BaseBackupTablespace] = []) -> (PageChecksumFailures, [Bool]) {
        var failures = PageChecksumFailures()
        let recognized = messages.map { failures.record(warning: $0, tablespaces: tablespaces) }
        return (failures, recognized)
    }

    @Test func eightPagesOfOneFileGiveItsPathPagesAndTheFiveBlocksNamed() {
        let (failures, recognized) = Self.record(Self.eightInOneFile)
        #expect(recognized.allSatisfy { $0 })
        #expect(failures == PageChecksumFailures(total: 8, files: [.init(path: "base/5/16384", pages: 8, blocks: [1, 3, 5, 6, 7])]))
        #expect(failures.summary == "8 pages in 1 file: base/5/16384 (8 pages: blocks 1, 3, 5, 6, 7, …)")
    }

    @Test func oneFailedPageHasNoTotalsAndStillCounts() {
        let (failures, recognized) = Self.record([#"checksum verification failed in file "./base/16390/16401", block 0: calculated 1 but expected 2"#])
        #expect(recognized == [true])
        #expect(failures == PageChecksumFailures(total: 1, files: [.init(path: "base/16390/16401", pages: 1, blocks: [0])]))
        #expect(failures.summary == "1 page in 1 file: base/16390/16401 (1 page: block 0)")
    }

    @Test func filesOfSeveralTablespacesAreCountedApartAndATablespaceFileIsNamedUnderItsOID() {
        let tablespaces = [
            BaseBackupTablespace(oid: 16384, location: "/srv/quiet", estimatedSize: nil),
            BaseBackupTablespace(oid: nil, location: nil, estimatedSize: nil),
        ]
        let messages = [
            #"checksum verification failed in file "/srv/quiet/PG_15_202209061/5/16385", block 1: calculated 99D9 but expected EF23"#,
            #"checksum verification failed in file "./global/1262", block 0: calculated 1 but expected 2"#,
            #"checksum verification failed in file "./global/1262", block 2: calculated 1 but expected 2"#,
            #"file "./global/1262" has a total of 2 checksum verification failures"#,
            "3 total checksum verification failures",
        ]
        let (failures, recognized) = Self.record(messages, tablespaces: tablespaces)
        #expect(recognized.allSatisfy { $0 })
        #expect(failures.total == 3)
        #expect(failures.files == [
            .init(path: "PG_15_202209061/5/16385", tablespace: 16384, pages: 1, blocks: [1]),
            .init(path: "global/1262", pages: 2, blocks: [0, 2]),
        ])
        #expect(failures.files.map(\.dataDirectoryPath) == ["pg_tblspc/16384/PG_15_202209061/5/16385", "global/1262"])
    }

    @Test func otherWarningsAndTranslatedOnesAreNotRecorded() {
        let (failures, recognized) = Self.record([
            "WAL archiving is not enabled; you must ensure that all required WAL segments are copied through other means to complete the backup",
            #"la vérification de la somme de contrôle a échoué dans le fichier « ./base/5/16384 », bloc 1"#,
            #"checksum verification failed in file "./base/5/16384", block x: calculated 1 but expected 2"#,
            #"file "./base/5/16384" has a total of many checksum verification failures"#,
            "total checksum verification failures",
        ])
        #expect(recognized == [false, false, false, false, false])
        #expect(failures.isEmpty)
    }

    /// A path with a quote and the message's own separators in it stays whole.
    @Test func aPathHoldingTheSeparatorIsCutAtItsLastOccurrence() {
        let (failures, recognized) = Self.record(
            [#"checksum verification failed in file "/t/a", block 9/PG_15_1/5/7", block 4: calculated 1 but expected 2"#],
            tablespaces: [BaseBackupTablespace(oid: 20000, location: "/t/a\", block 9/", estimatedSize: nil)])
        #expect(recognized == [true])
        #expect(failures.files == [.init(path: "PG_15_1/5/7", tablespace: 20000, pages: 1, blocks: [4])])
    }
}
