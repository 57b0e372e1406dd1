import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// How `pgbackup restore` restores.
public struct RestoreOptions: Sendable {
    /// The data directory to create (or, with `delta`/`force`, to overwrite).
    public var dataDirectory: String
    public var target: RestoreTarget = .latest
    public var timeline: RestoreTimeline = .latest
    public var action: RestoreTargetAction = .promote
    public var exclusive = false
    public var backupID: BackupID?
    /// Tablespace OID → directory; unmapped tablespaces go back where they were.
    public var tablespaceMap: [UInt32: String] = [:]
    /// When set, unmapped tablespaces go to `<tablespaceRoot>/<oid>` instead (`verify-restore`).
    public var tablespaceRoot: String?
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    public var delta = false
    public var force = false
    /// Makes the node a standby of this primary once it has replayed the archive.
    public var primaryConninfo: String?
    /// Whether the restored server keeps the backed-up `archive_mode`; nil: `.preserve` for a
    /// standby, `.off` otherwise.
    public var archiveMode: RestoreArchiveMode?
    /// The configuration file the restored server's `restore_command` reads; nil: the effective
    /// repository settings (configuration file and environment alike) are written next to the
    /// data directory (`<dir>.pgbackup.yaml`, mode 0600).
    public var configFile: String?
    /// The `pgbackup` executable the restored server runs in `restore_command`.
    public var executable: String
    public var onProgress: (@Sendable (_ bytesDone: Int64, _ bytesTotal: Int64) -> Void)?
    /// Told the backup once it is chosen, before anything is written (`verify-restore` records it
    /// even when the restore then fails).
    public var onChosen: (@Sendable (BackupManifest) -> Void)?
    /// Told what writing the files did (bytes written, unchanged, total), before recovery is
    /// configured (`follow` reports it).
    public var onWritten: (@Sendable (RestoreWriteStats) -> Void)?
    /// Run on the data directory once the files and the recovery settings are written and before
    /// `global/pg_control`, while `RESTORE_FAILED` is there: what else must be in place before the
    /// directory can look complete (`follow` puts back the node's own configuration). A failure
    /// fails the restore and leaves the marker, without pg_control.
    public var beforeControlFile: (@Sendable (_ dataDirectory: String) throws -> Void)?

    public init(dataDirectory: String, executable: String) {
        self.dataDirectory = dataDirectory
        self.executable = executable
    }
}

/// Whether a restored server archives WAL the way the backed-up server did.
public enum RestoreArchiveMode: String, Sendable, Codable, CaseIterable {
    /// `archive_mode = 'off'` in `postgresql.auto.conf`: a copy restored to look at the data, or
    /// to test, never runs the backed-up `archive_command` into the production repository
    /// (its new timeline there would make the real primary's next WAL diverge). The default
    /// for a restore that promotes.
    case off
    /// The backed-up settings as they are: a restored server that replaces the lost primary
    /// and archives with `wal-push`. The default for `--standby` (a standby does not archive
    /// until it is promoted, and then it is the cluster's primary).
    case preserve
}

/// What a restore did, for the command's output.
public struct RestoreResult: Sendable, Codable {
    public var backupID: BackupID
    public var dataDirectory: String
    public var target: String
    public var timeline: UInt32
    public var walNeeded: String
    public var bytes: Int64
    public var seconds: Double
    public var restoreCommand: String
    public var configFile: String
    public var standby: Bool
    public var archiveMode: RestoreArchiveMode
    /// Where the time went: `plan` (the repository read, the target checked), then the
    /// writer's `check`, `layout`, `content`, `finish`, `sync`, `configure` and `control`.
    public var phases: PhaseTimes?
    /// The restored backup's pages whose checksum the server found wrong when it was taken
    /// (`BackupManifest.checksumFailures`): restored as the server read them. Absent when none.
    public var checksumFailures: PageChecksumFailures? = nil
}

/// `pgbackup restore`: validates the target against the repository (`RestorePlanner`) before
/// writing anything, writes the backup's files (`RestoreWriter`), and configures recovery so that
/// a plain `pg_ctl start` replays the archived WAL to the target.
public struct RestoreService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    public func run(_ options: RestoreOptions) async throws -> RestoreResult {
        let began = ContinuousClock.now
        // 1. Decide, before touching the target directory, in the history that holds the backup
        // (`init --upgrade` keeps one per cluster): --backup-id's, else the newest history that
        // can reach the target (a time or LSN before the upgrade is in an older history's).
        let histories = try await RepositoryAccess.openHistories(settings)
        let candidates = if let id = options.backupID {
            [try await RepositoryAccess.history(holding: id, in: histories)]
        } else if case .latest = options.target {
            [histories[histories.count - 1]]
        } else {
            Array(histories.reversed())
        }
        var refusal: RestoreRefusal?
        var decided: (plan: RestoreSelection, manifest: BackupManifest)?
        var history = candidates[0]
        for candidate in candidates {
            do {
                decided = try await decide(options, repository: candidate.repository, info: candidate.info)
                history = candidate
                break
            } catch let error as RestoreRefusal {
                refusal = refusal ?? error
            }
        }
        guard let decided else { throw refusal! }
        let (plan, manifest) = decided
        if history.info.systemIdentifier != histories[histories.count - 1].info.systemIdentifier {
            logger.notice("backup \(manifest.id) is of system \(history.info.systemIdentifier) on PostgreSQL \(history.info.postgresMajor), before a major upgrade: start the restored directory with PostgreSQL \(history.info.postgresMajor)'s server binaries")
        }
        let repository = history.repository
        var tablespaces: [UInt32: String] = [:]
        for space in manifest.tablespaces { tablespaces[space.oid] = options.tablespaceMap[space.oid] ?? options.tablespaceRoot.map { "\($0)/\(space.oid)" } ?? space.location }
        for oid in options.tablespaceMap.keys where tablespaces[oid] == nil {
            throw RestoreRefusal.invalidOption("--tablespace-map \(oid)=…: backup \(manifest.id) has no tablespace \(oid) (it has \(manifest.tablespaces.map { String($0.oid) }.joined(separator: ", ")))")
        }
        try checkDirectories([options.dataDirectory] + tablespaces.values.sorted(), options: options)
        options.onChosen?(manifest)
        logger.info("restoring backup \(manifest.id)", metadata: [
            "target": "\(options.target)", "timeline": "\(plan.timeline.rawValue)", "wal": "\(plan.walNeeded)",
            "directory": "\(options.dataDirectory)",
        ])

        let phases = PhaseClock(start: began) { [logger] phase in
            logger.debug("restore phase", metadata: ["phase": "\(phase.name)", "seconds": "\(PhaseTimes.format(phase.seconds))"])
        }
        phases.lap("plan")

        // 2. The recovery settings, written by the writer once the files are, before pg_control.
        let configFile = options.configFile ?? Self.repositoryConfigurationPath(next: options.dataDirectory)
        // After `init --upgrade`, WAL names of different histories collide: name the backup's.
        let historyOption = histories.count > 1 ? ["--system-identifier", history.info.systemIdentifier.description] : []
        let restoreCommand = ([
            options.executable, "wal-fetch", "--config", configFile, "--server", settings.server,
        ] + historyOption).map(Quoting.shellWord).joined(separator: " ") + " %f %p"
        var recovery = RecoveryConfiguration(
            restoreCommand: restoreCommand, target: options.target,
            timeline: options.primaryConninfo == nil ? plan.timeline : nil, action: options.action, exclusive: options.exclusive,
            primaryConninfo: options.primaryConninfo)
        let archiveMode = options.archiveMode ?? (options.primaryConninfo == nil ? .off : .preserve)
        recovery.archiveOff = archiveMode == .off
        let repositoryConfiguration = options.configFile == nil ? try repositoryConfiguration(for: options.dataDirectory, at: configFile) : nil
        let backup = manifest.id
        let beforeControlFile = options.beforeControlFile
        let configure: @Sendable (RestoreRoot) throws -> Void = { [recovery] root in
            try repositoryConfiguration?.write(owner: Self.owner(of: root.path))
            try Self.writeRecoveryConfiguration(recovery, in: root, backup: backup)
            try beforeControlFile?(root.path)
        }

        // 3. Write: the files, the recovery settings, pg_control last.
        let writer = RestoreWriter(chunkStore: ChunkStore(repository: repository, compression: settings.compression), jobs: options.jobs, logger: logger)
        let stats = try await writer.write(
            manifest, dataDirectory: options.dataDirectory, tablespaceDirectories: tablespaces,
            mode: options.delta ? .delta : options.force ? .replace : .fresh, onProgress: options.onProgress,
            configure: configure, phases: phases)
        options.onWritten?(stats)

        let elapsed = ContinuousClock.now - began
        let seconds = elapsed.inSeconds
        logger.info("restore of backup \(manifest.id) complete; start the server to recover", metadata: ["seconds": "\(seconds)"])
        return RestoreResult(
            backupID: manifest.id, dataDirectory: options.dataDirectory, target: options.target.description,
            timeline: plan.timeline.rawValue, walNeeded: plan.walNeeded, bytes: stats.bytesWritten, seconds: seconds,
            restoreCommand: restoreCommand, configFile: configFile, standby: options.primaryConninfo != nil,
            archiveMode: archiveMode, phases: phases.times, checksumFailures: manifest.checksumFailures)
    }

    /// Chooses the backup and checks the target in one history (`repository`), before anything
    /// is written: the plan and the chosen backup's manifest, or a `RestoreRefusal`.
    private func decide(
        _ options: RestoreOptions, repository: Repository, info: RepositoryInfo
    ) async throws -> (plan: RestoreSelection, manifest: BackupManifest) {
        let segmentSize = info.walSegmentSize
        let catalog = BackupCatalog(repository: repository)
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)

        let (continuity, serverTimes) = try await archive.survey()
        var histories: [TimelineID: TimelineHistory] = [:]
        for timeline in continuity.timelines where timeline.hasHistoryFile {
            histories[timeline.timeline] = try await archive.history(of: timeline.timeline)
        }
        // --backup-id reads that backup only; otherwise a damaged backup.json is skipped, not fatal.
        let chosen: BackupManifest?
        let backups: [BackupSummary]
        if let id = options.backupID {
            let manifest = try await catalog.intactManifest(id)
            chosen = manifest
            backups = [BackupSummary(manifest)]
        } else {
            chosen = nil
            let survey = try await catalog.survey()
            for damaged in survey.damaged {
                logger.warning("skipping backup \(damaged.id): its manifest is damaged (`pgbackup show \(damaged.id)` explains)", metadata: [
                    "key": "\(damaged.key)", "problem": "\(damaged.problem)",
                ])
            }
            backups = survey.backups
        }
        var planner = RestorePlanner(
            backups: backups, continuity: continuity, histories: histories,
            serverTimes: serverTimes.mapValues(\.time), server: settings.server)
        planner.recordedGaps = try await archive.gaps()
        for timeline in continuity.timelines {
            guard let end = timeline.endOfArchive else { continue }
            let next = WALSegmentName(timeline: timeline.timeline, containing: end, segmentSize: segmentSize)
            if timeline.partials.contains(next), let length = try await archive.partialLength(of: next) {
                planner.partialEnds[timeline.timeline] = end + length
            }
        }
        let plan = try planner.plan(target: options.target, timeline: options.timeline, backupID: options.backupID)
        if case .time = options.target, serverTimes[plan.timeline] == nil {
            logger.warning("the newest archived WAL on timeline \(plan.timeline.rawValue) carries no server time (stored by wal-push?): the target time is not checked against the end of the archive; recovery stops with an error if it does not reach it")
        }
        let manifest: BackupManifest
        if let chosen { manifest = chosen } else { manifest = try await catalog.manifest(plan.backup.id) }
        return (plan, manifest)
    }

    /// Every target directory must be absent or empty, unless `--delta` (kept, updated in place)
    /// or `--force` (emptied by the writer, once the backup, the mapping and the directories
    /// were checked).
    private func checkDirectories(_ paths: [String], options: RestoreOptions) throws {
        for path in paths {
            guard path.hasPrefix("/") else {
                throw RestoreRefusal.invalidOption("\(path) is not an absolute path")
            }
            guard !options.delta, !options.force, let entries = try? FileManager.default.contentsOfDirectory(atPath: path), !entries.isEmpty else {
                continue
            }
            throw RestoreRefusal.directoryNotEmpty(path)
        }
    }

    /// `<dataDirectory>.pgbackup.yaml`: the repository settings for the restored server's
    /// `restore_command`, next to the data directory (not inside it: later base backups would
    /// copy it).
    private static func repositoryConfigurationPath(next dataDirectory: String) -> String {
        var base = dataDirectory
        while base.count > 1 && base.hasSuffix("/") { base.removeLast() }
        return base + ".pgbackup.yaml"
    }

    /// The repository settings file and, with encryption, the key file beside it
    /// (`<dir>.pgbackup.key`, named by the settings: never a key on a command line).
    private func repositoryConfiguration(for dataDirectory: String, at path: String) throws -> RepositoryConfigurationFiles {
        var settings = self.settings
        let key = try settings.encryptionKey()
        if key != nil { settings.encryptionKeyFile = String(path.dropLast(".yaml".count)) + ".key" }
        let content = settings.repositoryConfigurationYAML(comment: "written by pgbackup restore for the restore_command of \(dataDirectory)")
        var files: [(path: String, contents: [UInt8])] = []
        if let key, let keyPath = settings.encryptionKeyFile { files.append((keyPath, key.fileContents)) }
        files.append((path, Array(content.utf8)))
        return RepositoryConfigurationFiles(files: files)
    }

    /// The files `restore_command` reads, written mode 0600 from their first byte (they may hold
    /// S3 credentials or a key), atomically and durably (`DurableFile`), and, when we are root,
    /// owned by the data directory's owner, the user the server (and so `restore_command`) runs as.
    private struct RepositoryConfigurationFiles: Sendable {
        var files: [(path: String, contents: [UInt8])]

        func write(owner: FileOwner?) throws {
            for file in files { try DurableFile.write(file.path, contents: file.contents, mode: 0o600, owner: owner) }
        }
    }

    /// The owner of `dataDirectory` when we are root (files for the server are handed to it).
    private static func owner(of dataDirectory: String) throws -> FileOwner? {
        guard geteuid() == 0 else { return nil }
        var info = stat()
        guard stat(dataDirectory, &info) == 0 else {
            throw FileSystemError(operation: "inspect", path: dataDirectory, reason: FileSystem.errnoDescription())
        }
        return FileOwner(uid: info.st_uid, gid: info.st_gid)
    }

    /// Writes the recovery settings into `postgresql.auto.conf` (replacing the backed-up
    /// server's own, `RecoveryConfiguration.autoConf(replacing:comment:)`) and the signal file,
    /// each atomically and durably, through the data directory's descriptor: never through a
    /// link (`RestoreRoot`).
    private static func writeRecoveryConfiguration(_ recovery: RecoveryConfiguration, in root: RestoreRoot, backup: BackupID) throws {
        let comment = "recovery settings written by pgbackup restore of backup \(backup) at \(RestoreTime.format(Date()))"
        let existing = try root.contents(of: RestorePlan.autoConfPath).map { String(decoding: $0, as: UTF8.self) }
            ?? "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command."
        try root.writeDurably(RestorePlan.autoConfPath, Array(recovery.autoConf(replacing: existing, comment: comment).utf8), mode: 0o600)
        try root.writeDurably(recovery.signalFile, [], mode: 0o600)
    }
}
