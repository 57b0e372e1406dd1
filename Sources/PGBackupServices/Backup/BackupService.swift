import Foundation
import Logging
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import PGBackupStorage
import Synchronization

/// `pgbackup backup`: one base backup over the replication protocol, into the repository.
/// Callable from the CLI and from inside the daemon (a scheduled backup).
///
/// How it goes:
/// 1. Checks the repository and the server (same cluster, same segment size), opens the WAL
///    connection with its temporary slot (`BackupWALReceiver`), takes the server's backup lock
///    (`RepositoryLock`; a second backup is refused) and removes what earlier backups that never
///    completed left behind.
/// 2. Runs `BASE_BACKUP` and reads it on one thread; `ArchiveSplitter` cuts the tar streams into
///    chunks, which `ChunkUploadPool` compresses and stores `jobs` at a time (unchanged chunks
///    are found stored already and not uploaded again). Meanwhile the WAL from the backup's
///    start to its stop is streamed into the WAL archive, and the lock is refreshed.
///    On a file:// repository the chunks are put as a group (`DeferredDurability`): each is
///    visible only once durable, and all are, with their directories, before step 3.
/// 3. Stores the server's `backup_manifest`, then — last, in one atomic put — `backup.json`
///    (`BackupCatalog.commit`). Until then the backup does not exist: a crash anywhere before
///    leaves only garbage that the next backup removes (`backups/<id>/in-progress.json` marks it)
///    and chunks that later backups reuse.
///
/// Memory: `jobs + 3` chunk buffers (4 MiB each by default), the codecs' buffers, and the list
/// of files (about 200 bytes per file and per chunk).
public struct BackupService: Sendable {
    public let settings: Settings
    public let logger: Logger
    /// One server of a multi-host conninfo to take the backup from (the daemon's chosen
    /// primary); it must answer as a primary. Nil: the server libpq picks.
    public var server: ConninfoServer?

    public init(settings: Settings, logger: Logger, server: ConninfoServer? = nil) {
        self.settings = settings
        self.logger = logger
        self.server = server
    }

    /// Without a server named: the primary the daemon would choose among the conninfo's servers
    /// (a standby listed first is passed over). A former primary — the only primary answering,
    /// on a timeline older than the repository's — is refused: the WAL its backup needs would be
    /// kept apart as diverged. With no primary answering, nil: libpq's pick, as always (a
    /// backup from a standby).
    private func chooseServer(conninfo: String, info: RepositoryInfo, latestTimeline: TimelineID?) async throws -> ConninfoServer? {
        let statuses = try await PrimaryLocator.survey(conninfo: conninfo, environment: ProcessInfo.processInfo.environment)
        let choice = PrimaryLocator.choose(
            from: statuses, systemIdentifier: info.systemIdentifier, minimumTimeline: latestTimeline)
        return try BackupDecisions.server(from: choice, latestTimeline: latestTimeline)
    }

    public func run(_ options: BackupOptions = BackupOptions()) async throws -> BackupManifest {
        try await runMeasured(options).manifest
    }

    /// `run`, and where its time went (`PhaseTimes`; each phase is also logged at debug level
    /// as it ends): `survey` (the repository, the server choice), `connect` (the backup
    /// connection, the cluster's identity), `slot` (the WAL
    /// connection and its temporary slot), `lock`, `prepare` (leftovers, id, chunk index),
    /// `checkpoint` (BASE_BACKUP until the server's start LSN), `stream` (the data, chunks stored
    /// meanwhile), `finish` (from the end of the stream until the last chunk is stored and the
    /// WAL up to the stop LSN is in the repository: inside it `chunks`, `wal-received`,
    /// `wal-stored`), `flush` (the chunks made durable), `manifest`, `commit` (backup.json), `release`. `chunk-store-busy` (inside
    /// `stream`) is the time spent storing chunks summed over the jobs.
    public func runMeasured(_ options: BackupOptions = BackupOptions()) async throws -> (manifest: BackupManifest, phases: PhaseTimes) {
        try options.chunking.validate()
        let began = ContinuousClock.now
        let phases = PhaseClock(start: began) { [logger] phase in
            var metadata: Logger.Metadata = ["phase": "\(phase.name)", "seconds": "\(PhaseTimes.format(phase.seconds))"]
            if let within = phase.within { metadata["within"] = "\(within)" }
            logger.debug("backup phase", metadata: metadata)
        }
        let conninfo = try settings.requireConninfo()
        let (repository, info) = try await RepositoryAccess.openReadingInfo(settings)
        let store = repository.store
        let segmentSize = info.walSegmentSize
        let server: ConninfoServer?
        if let named = self.server {
            server = named
        } else {
            let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
            server = try await chooseServer(conninfo: conninfo, info: info, latestTimeline: try await archive.continuity().latestTimeline)
        }
        phases.lap("survey")

        // Both connections first: an unreachable server or a refused login fails before the
        // repository is touched.
        let walReceiver = BackupWALReceiver(slot: "pgbackup_backup_\(getpid())", segmentSize: segmentSize, logger: logger)
        // Each connection is handed over to the one blocking thread that uses it, and closes when
        // that is done with it (or here, with its handover, when the backup fails before).
        let (backupConnection, walConnection, cluster) = try await BlockingIO.runLong {
            let backup = try BaseBackupStream.openConnection(conninfo: conninfo, overriding: server?.overrides ?? [:])
            let cluster: ClusterIdentity
            let wal: PostgresConnection
            do {
                if let server {
                    let status = try ServerStatus.read(backup, server: server)
                    guard status.isPrimary else { throw NotAPrimaryError(status: status, systemIdentifier: info.systemIdentifier) }
                }
                cluster = try ClusterIdentity.read(from: backup)
                try info.check(
                    belongsTo: cluster.systemIdentifier, walSegmentSize: cluster.walSegmentSize, location: store.location,
                    versionNumber: cluster.versionNumber, host: server.map { "\($0)" })
                phases.lap("connect")
                wal = try walReceiver.open(conninfo: conninfo, overriding: server?.overrides ?? [:])
                phases.lap("slot")
            } catch {
                backup.close()
                throw error
            }
            return (Handover(backup), Handover(wal), cluster)
        }

        let lock = RepositoryLock(repository: repository, name: "backup", staleAfter: options.lockStaleAfter)
        let owner = try await acquire(lock)
        phases.lap("lock")
        do {
            let context = BackupContext(
                options: options, repository: repository, repositorySystem: info.systemIdentifier, segmentSize: segmentSize,
                cluster: cluster, began: began, phases: phases, lock: lock, owner: owner)
            let manifest = try await takeBackup(
                context, backupConnection: backupConnection, walConnection: walConnection, walReceiver: walReceiver)
            try await lock.release(owner)
            phases.lap("release")
            logger.debug("backup phases", metadata: ["phases": "\(phases.times.summary)"])
            return (manifest, phases.times)
        } catch {
            // Also when cancelled (the daemon's shutdown abandons a backup): released from a task
            // of its own, which the cancellation does not reach (a store request checks it first),
            // so that the next backup does not find the lock held until it goes stale.
            await Task { try? await lock.release(owner) }.value
            throw error
        }
    }

    /// Takes the backup lock. A retention run holding it (its chunk sweep, minutes at most) is
    /// waited for, polling every 2 s for up to 10 minutes; any other holder is refused at once.
    private func acquire(_ lock: RepositoryLock) async throws -> LockOwner {
        let deadline = ContinuousClock.now + .seconds(600)
        var logged = false
        while true {
            do {
                return try await lock.acquire()
            } catch LockError.held(_, _, let holder) where holder.purpose == "retention" && ContinuousClock.now < deadline {
                if !logged {
                    logger.info("waiting for retention to release the backup lock", metadata: ["pid": "\(holder.pid)", "host": "\(holder.hostname)"])
                    logged = true
                }
                try await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// Everything that happens under the backup lock.
    private func takeBackup(
        _ context: BackupContext, backupConnection: Handover<PostgresConnection>, walConnection: Handover<PostgresConnection>,
        walReceiver: BackupWALReceiver
    ) async throws -> BackupManifest {
        let (options, repository, segmentSize, began, phases) = (context.options, context.repository, context.segmentSize, context.began, context.phases)
        let lock = (context.lock, context.owner)
        let catalog = BackupCatalog(repository: repository)
        for id in try await catalog.cleanupIncomplete(olderThan: 0) {
            logger.info("removed the leftovers of backup \(id), which never completed")
        }
        let spoolDirectory = "\(settings.spoolDirectory)/\(settings.server).backup"
        try? FileManager.default.removeItem(atPath: spoolDirectory)
        defer { try? FileManager.default.removeItem(atPath: spoolDirectory) }

        let id = try await catalog.allocateID(at: Date())
        try await catalog.markInProgress(id, owner: lock.1)
        logger.info("base backup \(id) starting", metadata: ["server": "\(settings.server)", "jobs": "\(options.jobs)"])

        let index = try await ChunkIndex.load(repository)
        logger.debug("chunks in the repository", metadata: ["count": "\(index.count)"])
        let chunkStore = ChunkStore(repository: repository, compression: settings.compression, index: index)
        let pool = ChunkUploadPool(chunkStore: chunkStore, jobs: options.jobs)
        // The chunks become durable together, before backup.json (`DeferredDurability`): on a
        // file:// repository, a few fsyncs per batch instead of three per chunk.
        let chunksDurable = DeferredDurability()
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
        let reader = BackupStreamReader(
            label: options.label ?? "pgbackup \(id)", checkpoint: options.checkpoint, chunking: options.chunking,
            maxRate: options.maxRateKilobytesPerSecond, onProgress: options.onProgress, began: began, phases: phases)
        phases.lap("prepare")

        enum Part: Sendable {
            case streamed(StreamedBackup)
            case stored([Int: ChunkRef])
            case walArchived(BackupServerTimes)
        }
        // The three parts run side by side; the first to fail cancels the others. Each returns
        // once: when the loop has seen them all, all three are set.
        let (streamed, stored, serverTimes) = try await keepingLock(lock, every: .seconds(options.lockStaleAfter / 5)) {
            try await withThrowingTaskGroup(of: Part.self) { group in
                group.addTask {
                    .streamed(try await reader.read(connection: backupConnection, into: pool, wal: walReceiver))
                }
                group.addTask { .stored(try await DeferredDurability.$current.withValue(chunksDurable) { try await pool.run() }) }
                group.addTask {
                    .walArchived(try await streamWAL(
                        walReceiver, connection: walConnection, spoolDirectory: spoolDirectory, segmentSize: segmentSize, archive: archive))
                }
                var streamed: StreamedBackup?
                var stored: [Int: ChunkRef]?
                var serverTimes: BackupServerTimes?
                var storedAt = ContinuousClock.now, walStoredAt = ContinuousClock.now
                for try await part in group {
                    switch part {
                    case .streamed(let value): streamed = value
                    case .stored(let value): (stored, storedAt) = (value, .now)
                    case .walArchived(let value): (serverTimes, walStoredAt) = (value, .now)
                    }
                }
                guard let streamed, let stored, let serverTimes else { throw CancellationError() }
                phases.record("chunk-store-busy", seconds: pool.busy.inSeconds, within: "stream")
                phases.record("chunks", seconds: max(.zero, storedAt - streamed.endedAt).inSeconds, within: "finish")
                if let received = serverTimes.stopReceivedAt {
                    phases.record("wal-received", seconds: max(.zero, received - streamed.endedAt).inSeconds, within: "finish")
                }
                phases.record("wal-stored", seconds: max(.zero, walStoredAt - streamed.endedAt).inSeconds, within: "finish")
                phases.lap("finish")
                return (streamed, stored, serverTimes)
            }
        }

        try await chunksDurable.flush()
        phases.lap("flush")
        return try await commit(
            streamed, stored: stored, times: try Self.backupTimes(label: streamed.backupLabel, stream: serverTimes),
            id: id, catalog: catalog, context: context)
    }

    /// Runs `body` while refreshing the lock every `interval`. A refresh that fails (the lock was
    /// lost) cancels `body` and is thrown.
    private func keepingLock<T: Sendable>(
        _ lock: (RepositoryLock, LockOwner), every interval: Duration, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(operation: body)
            group.addTask { [logger] in
                // Never returns: it ends by throwing, cancelled or with the lock lost.
                while true {
                    try await Task.sleep(for: interval)
                    try await lock.0.refresh(lock.1)
                    logger.debug("backup lock refreshed")
                }
            }
            defer { group.cancelAll() }
            // Two children, and only `body` can return: the first result is the body's.
            return try await group.next()!
        }
    }

    /// The backup's start and stop by the server's clock (pgbackup's own clock may be off): the
    /// START TIME PostgreSQL wrote into `backup_label` (whole seconds; when its zone is not an
    /// unambiguous one, the send time of the WAL at the start LSN instead), and the send time of
    /// the WAL at the stop LSN as the backup's own stream received it
    /// (`BackupServerTimes`).
    static func backupTimes(label: BackupLabel?, stream: BackupServerTimes) throws -> (start: Date, stop: Date) {
        guard let stop = stream.stop, let start = label?.startTime ?? stream.start else {
            throw BackupError.incompleteStream("the server's clock at the backup's \(stream.stop == nil ? "stop" : "start") never reached the WAL stream")
        }
        return (min(start, stop), stop)
    }

    /// The WAL part: the receiver's thread, and the uploader that stores what it spools.
    /// Returns the server's clock at the backup's start and stop, as the stream saw it.
    private func streamWAL(
        _ receiver: BackupWALReceiver, connection: Handover<PostgresConnection>, spoolDirectory: String, segmentSize: WALSegmentSize,
        archive: WALArchive
    ) async throws -> BackupServerTimes {
        let progress = SharedProgress(StreamProgress(start: .zero, archived: .zero))
        let (jobs, queue) = AsyncStream.makeStream(of: UploadJob.self)
        var uploader = WALUploader(archive: archive, progress: progress, logger: logger)
        uploader.attempts = 3
        uploader.source = { "the WAL stream of `pgbackup backup`" }
        let configured = uploader
        @Sendable func upload() async throws {
            do {
                try await configured.run(jobs)
            } catch {
                receiver.fail(error)
                throw error
            }
        }
        async let uploading: Void = upload()
        let times: BackupServerTimes
        do {
            times = try await withTaskCancellationHandler {
                try await BlockingIO.runLong {
                    guard let connection = connection.take() else { throw BackupError.incompleteStream("the WAL connection was used already") }
                    let spool = try WALSpool(directory: spoolDirectory, segmentSize: segmentSize)
                    return try receiver.stream(connection: connection, spool: spool, progress: progress, queue: queue)
                }
            } onCancel: {
                receiver.cancel()
            }
        } catch {
            queue.finish()
            try? await uploading
            throw error
        }
        queue.finish()
        try await uploading
        return times
    }

    /// The server's `backup_manifest` must describe this cluster: from version 2 (PostgreSQL
    /// 17+) it names a system identifier, which must be the repository's and the one
    /// IDENTIFY_SYSTEM gave. Otherwise the backup is never committed.
    static func checkServerManifest(_ content: [UInt8], repositorySystem: SystemIdentifier, serverSystem: SystemIdentifier) throws(BackupError) {
        do throws(ServerManifestError) {
            let header = try ServerManifestHeader(parsing: content)
            try header.check(systemIdentifier: repositorySystem, source: "the repository's")
            try header.check(systemIdentifier: serverSystem, source: "the server's (IDENTIFY_SYSTEM)")
        } catch {
            throw .serverManifestRejected(error)
        }
    }

    /// Stores the server's manifest and commits `backup.json`.
    private func commit(
        _ streamed: StreamedBackup, stored: [Int: ChunkRef], times: (start: Date, stop: Date), id: BackupID, catalog: BackupCatalog,
        context: BackupContext
    ) async throws -> BackupManifest {
        let (cluster, segmentSize, phases) = (context.cluster, context.segmentSize, context.phases)
        let (files, totals) = try BackupDecisions.files(streamed.files, stored: stored, contentBytes: streamed.contentBytes)
        var serverManifest: BackupManifest.StoredObject?
        if let content = streamed.serverManifest {
            try Self.checkServerManifest(content, repositorySystem: context.repositorySystem, serverSystem: cluster.systemIdentifier)
            serverManifest = try await catalog.storeServerManifest(content, for: id, compression: settings.compression)
        }
        phases.lap("manifest")
        var manifest = BackupManifest(
            id: id, server: settings.server, systemIdentifier: cluster.systemIdentifier, postgresVersionNumber: cluster.versionNumber,
            timeline: streamed.timeline, startLSN: streamed.startLSN, stopLSN: streamed.stopLSN,
            startTime: times.start, stopTime: times.stop, label: streamed.label, compression: settings.compression,
            encryption: catalog.repository.encryption, chunking: context.options.chunking,
            tablespaces: streamed.tablespaces.compactMap { space in
                space.oid.map { BackupManifest.Tablespace(oid: $0, location: space.location ?? "") }
            },
            files: files, totals: totals, serverManifest: serverManifest,
            wal: BackupManifest.WALRange(timeline: streamed.timeline, start: streamed.startLSN, stop: streamed.stopLSN, segmentSize: segmentSize),
            durationSeconds: 0)
        manifest.checksumFailures = streamed.checksumFailures
        // A lock lost to someone else means two writers: do not commit on top of theirs.
        try await context.lock.refresh(context.owner)
        let elapsed = ContinuousClock.now - context.began
        manifest.durationSeconds = elapsed.inSeconds
        try await catalog.commit(manifest)
        try await catalog.clearInProgress(id)
        phases.lap("commit")
        var metadata: Logger.Metadata = [
            "start": "\(manifest.startLSN)", "stop": "\(manifest.stopLSN)", "bytes": "\(totals.databaseSize)",
            "stored_new": "\(totals.storedNew)", "deduplicated": "\(totals.storedDeduplicated)",
        ]
        // The callers report the failures (`BackupError.checksumFailures`): the CLI exits 1, a
        // scheduled backup is a failed job.
        if let failures = manifest.checksumFailures {
            metadata["checksum_failures"] = "\(failures.total)"
            metadata["checksum_failure_files"] = "\(failures.files.map(\.dataDirectoryPath).joined(separator: ","))"
        }
        logger.info("base backup \(id) complete", metadata: metadata)
        return manifest
    }
}
