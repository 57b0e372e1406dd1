import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import Synchronization

/// What the backup stream said, once read to its end.
struct StreamedBackup: Sendable {
    var label: String
    var startLSN: LSN
    var stopLSN: LSN
    var timeline: TimelineID
    /// The data directory's `backup_label`, which holds the server's START TIME.
    var backupLabel: BackupLabel?
    var tablespaces: [BaseBackupTablespace]
    var files: [SplitFile]
    var contentBytes: Int64
    var serverManifest: [UInt8]?
    /// The pages whose checksum the server found wrong (they are in the backup as it read them);
    /// nil when none.
    var checksumFailures: PageChecksumFailures?
    /// When the stream's end arrived.
    var endedAt: ContinuousClock.Instant
}

/// Reads one `BASE_BACKUP` on a blocking thread: its archives go through an `ArchiveSplitter`
/// into the chunk pool, its start and stop LSNs to the WAL receiver, its `backup_manifest` into
/// memory (at most `BackupCatalog.serverManifestLimit`).
struct BackupStreamReader: Sendable {
    let label: String
    let checkpoint: BaseBackupOptions.Checkpoint
    let chunking: ChunkingPolicy
    let maxRate: Int?
    let onProgress: (@Sendable (BackupProgress) -> Void)?
    let began: ContinuousClock.Instant
    /// Laps `checkpoint` at the start LSN and `stream` at the end of the stream.
    let phases: PhaseClock

    /// The canceller of the running backup, for a cancellation that arrives from another task.
    private final class Cancellation: Sendable {
        private let state = Mutex<(canceller: BaseBackupCanceller?, requested: Bool)>((nil, false))

        func started(_ canceller: BaseBackupCanceller?) throws {
            let requested = state.withLock { state in
                state.canceller = canceller
                return state.requested
            }
            if requested { throw CancellationError() }
        }

        func cancel() {
            let canceller = state.withLock { state in
                state.requested = true
                return state.canceller
            }
            try? canceller?.cancel()
        }
    }

    /// Takes the backup connection and reads the backup on a blocking thread; the connection
    /// closes when the read ends.
    func read(connection: Handover<PostgresConnection>, into pool: ChunkUploadPool, wal: BackupWALReceiver) async throws -> StreamedBackup {
        let cancellation = Cancellation()
        return try await withTaskCancellationHandler {
            try await BlockingIO.runLong {
                do {
                    guard let connection = connection.take() else { throw BackupError.incompleteStream("the backup connection was used already") }
                    let streamed = try read(connection, into: pool, wal: wal, cancellation: cancellation)
                    pool.finishSubmitting()
                    return streamed
                } catch {
                    pool.fail(error)
                    throw error
                }
            }
        } onCancel: {
            cancellation.cancel()
        }
    }

    private func read(
        _ connection: PostgresConnection, into pool: ChunkUploadPool, wal: BackupWALReceiver, cancellation: Cancellation
    ) throws -> StreamedBackup {
        let stream = BaseBackupStream(connection: connection)
        try stream.start(BaseBackupOptions(
            label: label, checkpoint: checkpoint, manifestChecksums: .crc32c, maxRateKilobytesPerSecond: maxRate))
        try cancellation.started(stream.canceller)
        let splitter = ArchiveSplitter(policy: chunking, sink: pool)
        var start: (lsn: LSN, timeline: TimelineID)?
        var tablespaces: [BaseBackupTablespace] = []
        var inArchive = false
        var manifest: [UInt8]?
        var bytesDone: Int64 = 0
        var lastReport = ContinuousClock.now

        func report(_ phase: BackupProgress.Phase, force: Bool = false) {
            guard let onProgress, force || ContinuousClock.now - lastReport >= .milliseconds(500) else { return }
            lastReport = ContinuousClock.now
            let total = tablespaces.compactMap(\.estimatedSize).reduce(Int64(0), +)
            onProgress(BackupProgress(
                phase: phase, bytesDone: bytesDone, bytesTotal: total > 0 ? total : nil, elapsed: ContinuousClock.now - began))
        }

        report(.checkpoint, force: true)
        while let event = try stream.next() {
            switch event {
            case let .started(lsn, timeline):
                start = (lsn, timeline)
                wal.begin(at: lsn, timeline: timeline)
                phases.lap("checkpoint")
            case let .tablespaces(list):
                tablespaces = list
                report(.copying, force: true)
            case let .archiveStarted(name, _):
                if inArchive { try splitter.endArchive() }
                try splitter.beginArchive(named: name, tablespaces: Set(tablespaces.compactMap(\.oid)))
                inArchive = true
            case let .archiveData(bytes):
                try splitter.feed(bytes)
                bytesDone += Int64(bytes.count)
                report(.copying)
            case .progress:
                report(.copying)
            case .manifestStarted:
                if inArchive { try splitter.endArchive() }
                inArchive = false
                manifest = []
            case let .manifestData(bytes):
                guard var content = manifest else { throw BaseBackupError.malformedStream("backup_manifest data before the manifest message ('m')") }
                guard content.count + bytes.count <= BackupCatalog.serverManifestLimit else {
                    throw BackupError.serverManifestTooLarge(limit: BackupCatalog.serverManifestLimit)
                }
                manifest = nil  // keeps `content` the only reference: the append does not copy
                content.append(contentsOf: bytes)
                manifest = content
            case let .finished(endLSN, _, checksumFailures):
                if inArchive { try splitter.endArchive() }
                guard let start else { throw BackupError.incompleteStream("the server never reported the backup's start") }
                try splitter.finish()
                wal.end(at: endLSN)
                phases.lap("stream")
                report(.finishing, force: true)
                return StreamedBackup(
                    label: label, startLSN: start.lsn, stopLSN: endLSN, timeline: start.timeline,
                    backupLabel: splitter.backupLabel.map { BackupLabel(parsing: String(decoding: $0, as: UTF8.self)) },
                    tablespaces: tablespaces, files: splitter.files, contentBytes: splitter.contentBytes,
                    serverManifest: manifest, checksumFailures: checksumFailures, endedAt: .now)
            }
        }
        throw BackupError.incompleteStream("no end-of-backup result")
    }
}
