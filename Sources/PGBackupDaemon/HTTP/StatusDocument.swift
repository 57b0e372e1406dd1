import Foundation
import PGBackupServices

/// `/status`'s JSON body (snake_case keys; times in ISO 8601, LSNs as `0/3000060`).
struct StatusDocument: Encodable {
    struct WAL: Encodable {
        var streaming: Bool
        var timeline: UInt32?
        var receivedLSN: String?
        var writtenLSN: String?
        var archivedLSN: String?
        var lagBytes: Int64?
        var lastArchivedTime: Date?
        var segmentsArchived: Int
        var gapsRecorded: Int
        var splitBrains: Int
        var slotsDropped: Int
        /// Times the server had invalidated the slot and the daemon made it anew.
        var slotsRecreated: Int
        var slotRetainedBytes: Int64?
    }

    struct Backups: Encodable {
        var count: Int
        var newest: String?
        var newestStopTime: Date?
        /// Pages whose checksum failed in the newest backup (0: none reported).
        var newestChecksumFailures: Int
        var recoveryWindowStart: Date?
        var repositoryBytes: Int64
    }

    struct Verification: Encodable {
        var time: Date
        var ok: Bool
        var backupID: String?
    }

    var server: String
    var primaryHost: String?
    var started: Date
    var healthy: Bool
    var checkedAt: Date?
    var wal: WAL
    var backups: Backups?
    var jobs: [String: DaemonState.Job]
    var lastVerification: Verification?
    var errors: [String: Int]

    init(_ view: DaemonView) {
        let stream = view.streamer
        server = view.state.server
        primaryHost = stream.server
        started = view.state.started
        healthy = view.healthy
        checkedAt = view.observations.reportTime
        wal = WAL(
            streaming: stream.streaming, timeline: stream.timeline?.rawValue,
            receivedLSN: stream.received?.description, writtenLSN: stream.written?.description,
            archivedLSN: stream.archived?.description, lagBytes: view.lagBytes, lastArchivedTime: stream.lastArchivedTime,
            segmentsArchived: stream.segmentsArchived, gapsRecorded: stream.gapsRecorded, splitBrains: stream.splitBrains,
            slotsDropped: stream.slotsDropped, slotsRecreated: stream.slotsRecreated, slotRetainedBytes: view.observations.slotRetainedBytes)
        backups = view.observations.survey.map {
            Backups(count: $0.backups, newest: $0.newestBackupID, newestStopTime: $0.newestBackupStop,
                    newestChecksumFailures: $0.newestBackupChecksumFailures, recoveryWindowStart: $0.recoveryWindowStart, repositoryBytes: $0.repositoryBytes)
        }
        jobs = Dictionary(uniqueKeysWithValues: view.state.jobs.map { ($0.key.rawValue, $0.value) })
        lastVerification = view.observations.survey?.lastVerification.map {
            Verification(time: $0.startedAt, ok: $0.ok, backupID: $0.backupID?.description)
        }
        errors = view.state.errors
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
