import PGBackupFoundations
@testable import PGBackupPostgres
import Testing

/// BASE_BACKUP's command text and COPY framing, without a server: the messages are built by hand
/// in the layout of PostgreSQL 15's basebackup_copy.c.
@Suite("BASE_BACKUP command and framing")
struct BaseBackupProtocolTests {
    @Test func rendersPostgreSQL15OptionSyntaxWithTheDefaults() throws {
        #expect(try BaseBackupOptions(label: "nightly").command()
            == "BASE_BACKUP (LABEL 'nightly', CHECKPOINT 'fast', WAIT false, MANIFEST 'yes', MANIFEST_CHECKSUMS 'SHA256', "
            + "PROGRESS true, TABLESPACE_MAP true)")
    }

    @Test func rendersEveryOption() throws {
        let options = BaseBackupOptions(
            label: "x", checkpoint: .spread, waitForWALArchiving: true, manifestChecksums: .crc32c, progress: false,
            maxRateKilobytesPerSecond: 32, tablespaceMap: false)
        #expect(try options.command()
            == "BASE_BACKUP (LABEL 'x', CHECKPOINT 'spread', WAIT true, MANIFEST 'yes', MANIFEST_CHECKSUMS 'CRC32C', "
            + "PROGRESS false, TABLESPACE_MAP false, MAX_RATE 32)")
        let noManifest = BaseBackupOptions(label: "x", includeManifest: false)
        #expect(try noManifest.command().contains("MANIFEST 'no', PROGRESS true"))
        #expect(try !noManifest.command().contains("MANIFEST_CHECKSUMS"))
    }

    @Test func quotesTheLabelForTheReplicationGrammar() throws {
        // Quotes are doubled; backslashes are ordinary characters in repl_scanner.l.
        #expect(try BaseBackupOptions(label: #"it's a \n 'test'"#).command().hasPrefix(#"BASE_BACKUP (LABEL 'it''s a \n ''test''', "#))
    }

    @Test func refusesLabelsWithNULAndRatesOutOfRange() {
        #expect(throws: BaseBackupError.invalidOptions("the backup label must not contain NUL characters")) {
            try BaseBackupOptions(label: "a\u{0}b").command()
        }
        for rate in [31, 1_048_577, 0, -1] {
            #expect(throws: BaseBackupError.self) { try BaseBackupOptions(label: "x", maxRateKilobytesPerSecond: rate).command() }
        }
        #expect(throws: Never.self) { try BaseBackupOptions(label: "x", maxRateKilobytesPerSecond: 1_048_576).command() }
        let error = BaseBackupError.invalidOptions("MAX_RATE 31 kB/s is outside PostgreSQL's range of 32 to 1048576 kB/s")
        #expect(throws: error) { try BaseBackupOptions(label: "x", maxRateKilobytesPerSecond: 31).command() }
    }

    // MARK: framing

    private func parse(_ bytes: [UInt8]) throws(BaseBackupError) -> String {
        let result = bytes.withUnsafeBytes { payload in
            Result { () throws(BaseBackupError) -> String in
                switch try BaseBackupMessage(parsing: payload) {
                case let .newArchive(name, location): return "n \(name) \(location ?? "nil")"
                case let .data(data): return "d \(Array(data))"
                case let .progress(done): return "p \(done)"
                case .manifestFollows: return "m"
                }
            }
        }
        return try result.get()
    }

    @Test func parsesEachMessageType() throws {
        #expect(try parse(Array("nbase.tar\u{0}\u{0}".utf8)) == "n base.tar nil")
        #expect(try parse(Array("n16385.tar\u{0}/srv/ts\u{0}".utf8)) == "n 16385.tar /srv/ts")
        #expect(try parse([UInt8(ascii: "d"), 1, 2, 0, 255]) == "d [1, 2, 0, 255]")
        #expect(try parse([UInt8(ascii: "d")]) == "d []")
        #expect(try parse([UInt8(ascii: "p"), 0, 0, 0, 1, 0, 0, 0, 2]) == "p 4294967298")
        #expect(try parse([UInt8(ascii: "m")]) == "m")
    }

    @Test func refusesMalformedMessages() {
        let malformed: [[UInt8]] = [
            [],
            [UInt8(ascii: "x"), 1],
            Array("nbase.tar".utf8),  // no NULs
            Array("nbase.tar\u{0}".utf8),  // no location
            Array("nbase.tar\u{0}\u{0}junk".utf8),  // trailing bytes
            Array("n\u{0}\u{0}".utf8),  // no name
            [UInt8(ascii: "p"), 0, 0, 0, 1],
            [UInt8(ascii: "p"), 0, 0, 0, 0, 0, 0, 0, 0, 0],
            [UInt8(ascii: "m"), 0],
        ]
        for bytes in malformed {
            #expect(throws: BaseBackupError.self, "\(bytes)") { try parse(bytes) }
        }
        #expect(throws: BaseBackupError.malformedStream("CopyData message of unknown type 'x' (0x78)")) {
            try parse([UInt8(ascii: "x"), 1])
        }
    }

    @Test func describesErrorsForOperators() {
        let senders = BaseBackupError.noFreeWALSender(
            target: "host=db port=5432", reason: "FATAL:  number of requested standby connections exceeds max_wal_senders (currently 2)")
        #expect("\(senders)".contains("(SQLSTATE 53300)\nHINT: every WAL sender is busy"))
        #expect("\(senders)".contains("raise max_wal_senders"))
        #expect("\(BaseBackupError.unsupportedServer(version: 140009))".contains("PostgreSQL 14.9"))
        #expect("\(BaseBackupError.unsupportedServer(version: 90624))".contains("PostgreSQL 9.6.24"))
    }
}
