import Foundation
import Logging
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `pgbackup follow`: makes a data directory follow the cluster's current primary. A standby
/// that has not gone past the new primary's fork point gets `primary_conninfo` and
/// `recovery_target_timeline = 'latest'` rewritten (and a reload if it runs); a stopped former
/// primary, or a stopped standby that diverged, is rejoined as a standby by a delta restore
/// from the repository on the primary's timeline: pg_rewind from the repository, with no
/// `wal_log_hints` and nothing read from the new primary's files. A running primary, or a
/// running standby that diverged, is refused untouched.
public struct FollowService: Sendable {
    public let settings: Settings
    public let logger: Logger

    public init(settings: Settings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    public func run(_ options: FollowOptions) async throws -> FollowResult {
        let began = ContinuousClock.now
        let conninfo = try options.primaryConninfo ?? settings.requireConninfo()
        let directory = try await DataDirectoryState.inspect(options.dataDirectory, postgresBindir: settings.postgresBindir)
        let (repository, info) = try await RepositoryAccess.openReadingInfo(settings)
        guard info.systemIdentifier == directory.systemIdentifier else {
            throw FollowError.anotherCluster(
                path: directory.path, found: directory.systemIdentifier, repository: info.systemIdentifier)
        }
        if let pid = directory.runningPID, !directory.isStandby {
            throw FollowError.runningPrimary(path: directory.path, pid: pid)
        }

        // The primary, and what the directory's primary_conninfo becomes.
        let segmentSize = info.walSegmentSize
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
        let environment = ProcessInfo.processInfo.environment
        let survey = try await PrimaryLocator.survey(conninfo: conninfo, environment: environment)
        let choice = PrimaryLocator.choose(
            from: survey, systemIdentifier: directory.systemIdentifier,
            minimumTimeline: try await archive.continuity().latestTimeline)
        guard let primary = choice.primary, let identity = primary.identity else {
            throw FollowError.noPrimary(choice.refusal ?? survey.map(\.description).joined(separator: "; "))
        }
        let existing = directory.setting("primary_conninfo")
        let applicationName = existing.flatMap { try? conninfoValue(of: "application_name", in: $0) }
        let primaryConninfo: String
        if let given = options.primaryConninfo {
            primaryConninfo = given
        } else {
            primaryConninfo = try standbyConninfo(from: conninfo, server: primary.server, applicationName: applicationName)
            if removingPasswords(fromConninfo: conninfo) != conninfo {
                logger.warning("""
                    primary_conninfo is PGBACKUP_CONNINFO without its password, which is not copied into the data directory: \
                    the standby authenticates on its own, with the ~/.pgpass of the server's OS user or a passfile= (give it in \
                    --primary-conninfo), or any other method pg_hba.conf allows
                    """)
            }
        }
        logger.info("following the primary \(primary.server) on timeline \(identity.timeline)", metadata: [
            "pgdata": "\(directory.path)", "primary_conninfo": "\(redactingPasswords(inConninfo: primaryConninfo))",
        ])
        var result = FollowResult(
            action: .repointed, dataDirectory: directory.path, primary: primary.server.description, timeline: identity.timeline.rawValue,
            primaryConninfo: redactingPasswords(inConninfo: primaryConninfo), standby: directory.isStandby, running: directory.runningPID != nil, reloaded: false,
            restartNeeded: false, seconds: 0)

        if let control = directory.control, directory.isStandby {
            let history = try await primaryHistory(identity.timeline, server: primary.server, conninfo: conninfo, archive: archive)
            let divergence = ControlData.divergence(position: control.knownPosition, primaryHistory: history)
            if let divergence, let pid = directory.runningPID {
                throw FollowError.runningDivergedStandby(path: directory.path, pid: pid, reason: divergence)
            }
            if let divergence {
                result.reason = divergence
            } else {
                try repoint(directory, primaryConninfo: primaryConninfo, result: &result)
                result.seconds = Self.seconds(since: began)
                return result
            }
        } else if let control = directory.control {
            result.reason = "no standby.signal, pg_control '\(control.state)' on timeline \(control.checkpointTimeline): a former primary, rewound from the repository"
        } else {
            result.reason = "an earlier restore into it did not complete (\(RestoreMarker.name), no global/pg_control): completing it"
        }
        try await rejoin(directory, timeline: identity.timeline, primaryConninfo: primaryConninfo, options: options, result: &result)
        result.seconds = Self.seconds(since: began)
        return result
    }

    /// Rewrites `primary_conninfo` and `recovery_target_timeline` in `postgresql.auto.conf`
    /// (atomically; owner and mode kept) and sends a running postmaster SIGHUP.
    private func repoint(_ directory: DataDirectoryState, primaryConninfo: String, result: inout FollowResult) throws {
        let previousTimeline = directory.setting("recovery_target_timeline")
        let path = directory.path + "/" + RestorePlan.autoConfPath
        var info = stat()
        let exists = lstat(path, &info) == 0
        let text = exists ? try String(contentsOfFile: path, encoding: .utf8) : "# Do not edit this file manually!\n# It will be overwritten by the ALTER SYSTEM command.\n"
        let updated = AutoConf.setting(
            [("primary_conninfo", primaryConninfo), ("recovery_target_timeline", "latest")], in: text,
            comment: "written by pgbackup follow at \(RestoreTime.format(Date())): stream from \(result.primary)")
        let owner = exists ? (info.st_uid, info.st_gid) : directory.owner
        let mode = exists ? info.st_mode & 0o7777 : 0o600
        try DurableFile.write(path, contents: Array(updated.utf8), mode: mode, owner: geteuid() == 0 ? FileOwner(uid: owner.0, gid: owner.1) : nil)
        logger.info("primary_conninfo and recovery_target_timeline rewritten", metadata: ["file": "\(path)"])
        if let pid = directory.runningPID {
            guard kill(pid, SIGHUP) == 0 else {
                throw FollowError.failed(action: "reload (SIGHUP) the postmaster \(pid) of", path: directory.path, reason: FileSystem.errnoDescription())
            }
            result.reloaded = true
            result.restartNeeded = previousTimeline.map { $0.lowercased() != "latest" } ?? false
            logger.info("standby reloaded", metadata: ["pid": "\(pid)"])
        }
    }

    /// A delta restore of the newest backup that reaches the end of `timeline` in the archive,
    /// as a standby of `primaryConninfo`; then the files handed to the directory's owner.
    private func rejoin(
        _ directory: DataDirectoryState, timeline: TimelineID, primaryConninfo: String, options: FollowOptions, result: inout FollowResult
    ) async throws {
        logger.info("rejoining \(directory.path) as a standby by a delta restore: \(result.reason ?? "")")
        var restore = RestoreOptions(dataDirectory: directory.path, executable: options.executable)
        restore.target = .latest
        restore.timeline = .number(timeline)
        restore.delta = true
        restore.jobs = options.jobs
        restore.primaryConninfo = primaryConninfo
        restore.onProgress = options.onProgress
        let seen = Mutex<(tablespaces: [String], stats: RestoreWriteStats?)>(([], nil))
        restore.onChosen = { manifest in seen.withLock { $0.tablespaces = manifest.tablespaces.map(\.location) } }
        restore.onWritten = { stats in seen.withLock { $0.stats = stats } }
        let kept = try KeptConfiguration.save(directory.path)
        let walLink = WALDirectoryLink.find(in: directory.path)
        // The restore wrote as root: PostgreSQL needs its own user to own everything.
        let owner = geteuid() == 0 ? RunAsUser(name: "", uid: directory.owner.uid, gid: directory.owner.gid, prefix: []) : nil
        let comment = "written by pgbackup follow at \(RestoreTime.format(Date())): a standby of \(result.primary)"
        // Before pg_control, while RESTORE_FAILED is there: a failure here leaves a directory
        // that never looks complete (and that follow completes when run again).
        restore.beforeControlFile = { [directoryOwner = directory.owner] path in
            if let owner {
                for tree in [path] + seen.withLock({ $0.tablespaces }) { try owner.takeOwnership(ofTree: tree) }
            }
            try walLink?.putBack(owner: directoryOwner)
            // The node's own configuration, not the backed-up server's, with the standby's settings.
            let autoConf = (try? String(contentsOfFile: path + "/" + RestorePlan.autoConfPath, encoding: .utf8)) ?? ""
            var recovery: [(name: String, value: String)] = []
            if let restoreCommand = AutoConf.value(of: "restore_command", in: autoConf) { recovery.append(("restore_command", restoreCommand)) }
            recovery += [("recovery_target_timeline", "latest"), ("primary_conninfo", primaryConninfo)]
            try kept.putBack(settings: recovery, comment: comment)
        }
        let restored = try await RestoreService(settings: settings, logger: logger).run(restore)
        let stats = seen.withLock { $0.stats }
        if let owner {
            // pg_control, written last by the restore.
            try owner.takeOwnership(ofTree: directory.path + "/global/pg_control")
        }
        try FileSystem.syncDirectory(directory.path)
        logger.info("the node's own configuration files kept", metadata: ["files": "\(kept.files.map(\.name).joined(separator: ", "))"])
        result.action = .rejoined
        result.backupID = restored.backupID.description
        result.bytesWritten = stats?.bytesWritten ?? restored.bytes
        result.bytesUnchanged = stats?.bytesUnchanged
        result.bytesTotal = stats?.bytesTotal
        result.filesWritten = stats?.filesWritten
        result.filesRemoved = stats?.filesRemoved
    }

    /// The history of the primary's timeline: from the primary (`TIMELINE_HISTORY`), else from
    /// the repository. Timeline 1 has none.
    private func primaryHistory(_ timeline: TimelineID, server: ConninfoServer, conninfo: String, archive: WALArchive) async throws -> TimelineHistory {
        if timeline == TimelineID(1) { return TimelineHistory(timeline: timeline, entries: []) }
        let environment = ProcessInfo.processInfo.environment
        do {
            let content = try await BlockingIO.runLong {
                let connection = try PrimaryLocator.connect(server, conninfo: conninfo, environment: environment)
                defer { connection.close() }
                return try connection.timelineHistory(timeline).content
            }
            return try TimelineHistory(parsing: String(decoding: content, as: UTF8.self), timeline: timeline)
        } catch {
            logger.warning("unable to read the history of timeline \(timeline) from \(server), reading the repository's", metadata: ["error": "\(error)"])
            guard let history = try await archive.history(of: timeline) else {
                throw FollowError.noPrimary("the history of the primary's timeline \(timeline) is neither readable from \(server) nor in the repository")
            }
            return history
        }
    }

    private static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return elapsed.inSeconds
    }
}
