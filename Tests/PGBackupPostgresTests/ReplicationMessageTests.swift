import Foundation
import PGBackupFoundations
@testable import PGBackupPostgres
import Testing

/// The replication message codec, with messages built by hand in the byte layout of
/// PostgreSQL's walsender.c (`XLogSendPhysical`, `WalSndKeepalive`) and walreceiver.c
/// (`XLogWalRcvSendReply`).
@Suite("Replication message codec")
struct ReplicationMessageTests {
    private func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }

    @Test func parsesXLogData() throws {
        let wal: [UInt8] = [0xD1, 0x10, 0x02, 0x00, 0xFF, 0x00]
        let microseconds: UInt64 = 817_124_696_123_456  // 2025-11-22 11:04:56.123456 UTC
        let payload = [UInt8(ascii: "w")] + bigEndian(0x1_0300_0000) + bigEndian(0x1_0400_0028) + bigEndian(microseconds) + wal
        guard case let .xLogData(data) = try ReplicationMessage(parsing: payload) else {
            Issue.record("not XLogData")
            return
        }
        #expect(data.start == LSN("1/3000000"))
        #expect(data.serverWALEnd == LSN("1/4000028"))
        #expect(data.end == LSN("1/3000006"))
        #expect(data.bytes == wal)
        #expect(PostgresTimestamp.microseconds(from: data.serverTime) == Int64(microseconds))
        let expected = try #require(ISO8601DateFormatter().date(from: "2025-11-22T11:04:56Z"))
        #expect(abs(data.serverTime.timeIntervalSince(expected) - 0.123456) < 1e-6)
    }

    @Test func parsesXLogDataWithoutWAL() throws {
        let payload = [UInt8(ascii: "w")] + bigEndian(16) + bigEndian(32) + bigEndian(0)
        guard case let .xLogData(data) = try ReplicationMessage(parsing: payload) else {
            Issue.record("not XLogData")
            return
        }
        #expect(data.bytes.isEmpty)
        #expect(data.end == data.start)
        #expect(data.serverTime == Date(timeIntervalSince1970: 946_684_800))
    }

    @Test(arguments: [(UInt8(1), true), (UInt8(0), false)])
    func parsesKeepalive(replyByte: UInt8, replyRequested: Bool) throws {
        let payload = [UInt8(ascii: "k")] + bigEndian(0x2A_0000_0100) + bigEndian(1_000_000) + [replyByte]
        #expect(try ReplicationMessage(parsing: payload) == .keepalive(PrimaryKeepalive(
            walEnd: LSN("2A/100")!, serverTime: Date(timeIntervalSince1970: 946_684_801), replyRequested: replyRequested)))
    }

    @Test func refusesMalformedMessages() {
        let keepalive = [UInt8(ascii: "k")] + bigEndian(1) + bigEndian(2) + [0]
        let xlog = [UInt8(ascii: "w")] + bigEndian(1) + bigEndian(2) + bigEndian(3)
        let cases: [([UInt8], ReplicationMessageError)] = [
            ([], .empty),
            ([UInt8(ascii: "x"), 0, 0], .unknownType(UInt8(ascii: "x"))),
            (Array(keepalive.dropLast()), .truncated(type: UInt8(ascii: "k"), length: 17, expectedAtLeast: 18)),
            (keepalive + [0], .trailingBytes(type: UInt8(ascii: "k"), length: 19, expected: 18)),
            (Array(xlog.dropLast()), .truncated(type: UInt8(ascii: "w"), length: 24, expectedAtLeast: 25)),
            ([UInt8(ascii: "w")], .truncated(type: UInt8(ascii: "w"), length: 1, expectedAtLeast: 25)),
        ]
        for (payload, expected) in cases {
            #expect(throws: expected) { try ReplicationMessage(parsing: payload) }
        }
        #expect(ReplicationMessageError.unknownType(UInt8(ascii: "x")).description
            == "malformed replication message: unknown type 'x' (0x78)")
        #expect(ReplicationMessageError.truncated(type: UInt8(ascii: "k"), length: 17, expectedAtLeast: 18).description
            == "malformed replication message: 'k' (0x6b) of 17 bytes, expected at least 18")
    }

    @Test func encodesStandbyStatusUpdate() {
        let update = StandbyStatusUpdate(
            write: LSN("1/3000100")!, flush: LSN("1/3000000")!, apply: .zero,
            clientTime: Date(timeIntervalSince1970: 946_684_800 + 2.5), replyRequested: true)
        let bytes = update.encoded()
        #expect(bytes.count == 34)
        #expect(bytes == [UInt8(ascii: "r")] + bigEndian(0x1_0300_0100) + bigEndian(0x1_0300_0000) + bigEndian(0)
            + bigEndian(2_500_000) + [1])
        #expect(StandbyStatusUpdate(write: .zero, flush: .zero, clientTime: Date(timeIntervalSince1970: 0)).encoded()[25..<34]
            == ArraySlice(bigEndian(UInt64(bitPattern: -946_684_800_000_000)) + [0]))
    }

    @Test func timestampsRoundTripToTheMicrosecond() {
        for microseconds: Int64 in [0, 1, -1, 999_999, -1_000_001, 817_124_696_123_456, 4_102_444_800_000_000, -946_684_800_000_000] {
            let date = PostgresTimestamp.date(fromMicroseconds: microseconds)
            #expect(PostgresTimestamp.microseconds(from: date) == microseconds, "\(microseconds)")
        }
        #expect(PostgresTimestamp.date(fromMicroseconds: 0) == Date(timeIntervalSince1970: 946_684_800))
        #expect(PostgresTimestamp.microseconds(from: Date(timeIntervalSince1970: 1e300)) == .max)
        #expect(PostgresTimestamp.microseconds(from: Date(timeIntervalSince1970: -1e300)) == .min)
    }

    @Test func slotNamesAreValidatedBeforeAnyCommand() throws {
        for valid in ["pgbackup", "a", "slot_1", String(repeating: "x", count: 63)] {
            #expect(throws: Never.self) { try validateSlotName(valid) }
        }
        for invalid in ["", "Upper", "with space", "semi;colon", "dash-ed", "é", String(repeating: "x", count: 64)] {
            #expect(throws: ReplicationError.self) { try validateSlotName(invalid) }
        }
        #expect(ReplicationError.invalidSlotName("Bad").description
            == "invalid replication slot name 'Bad': use 1 to 63 lower-case letters, digits and underscores")
    }
}
