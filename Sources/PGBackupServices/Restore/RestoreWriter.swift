import Foundation
import Logging
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

#if canImport(Glibc)
import Glibc
#endif

/// Writes a backup's files into a data directory (and its tablespaces into their mapped
/// directories): the file-writing core of `pgbackup restore`. Target selection, WAL checks and
/// recovery settings are the caller's.
///
/// How it goes, one type per step:
/// 1. `RestorePlan` checks the manifest and the mapping; `RestoreTargets` refuses what the mode
///    cannot write into (a non-empty directory for `.fresh`; a live postmaster for `.delta` and
///    `.replace`; for `.delta`, a directory of another cluster) — before anything is written.
/// 2. `RestoreMarker` leaves `RESTORE_FAILED` in the data directory before anything else is
///    written (and `.delta` removes `global/pg_control`): until the restore completes,
///    PostgreSQL cannot start the directory, and whoever looks finds why.
/// 3. `.replace` empties the roots (`RestoreTargets.clear`); `.delta` removes everything the
///    backup does not have (`DeltaCleanup`).
/// 4. `RestoreLayout` creates the directories (0700), the symbolic links, and `pg_tblspc/<oid>`
///    → the mapped directory; `.delta` resizes every regular file to its size (so chunks land in
///    any order), `.fresh` lets the first piece written to a file create it.
/// 5. `PieceRestorer` streams each distinct chunk and pack once, `jobs` at a time, into every
///    place it belongs (`PieceWriter`); `.delta` fetches only what differs.
/// 6. `RestoreLayout.finish` regenerates `tablespace_map` for the mapped directories
///    (PostgreSQL recreates the links from it when recovery starts), checks every file's size
///    and sets the manifest's modes and mtimes.
/// 7. `RestoreDurability` flushes every file system written to (`syncfs`); then the caller's
///    `configure` writes the recovery settings (each file atomically and durably); then
///    `global/pg_control` is written — last — through a temporary file, fsync and rename
///    (`DurableFile`), and `RESTORE_FAILED` is removed. A failure anywhere before leaves the
///    marker and no `pg_control`: never a directory that looks complete without its settings.
///
/// Every path beneath a root is reached from the root's descriptor without following links
/// (`RestoreRoot`): nothing is written outside the data and tablespace directories.
///
/// Left to the caller: ownership (files belong to whoever runs the restore; PostgreSQL needs its
/// own user to own the directory, 0700), and what the recovery settings are (`recovery.signal`,
/// `postgresql.auto.conf`: `configure`, run after a delta restore removed a `recovery.signal`
/// the backup does not have and restored `postgresql.auto.conf` as backed up).
///
/// Memory: `jobs` times the codec's buffers and one read piece (1 MiB), plus the plan, about as
/// large as the manifest; independent of the database and chunk sizes.
struct RestoreWriter: Sendable {
    let chunkStore: ChunkStore
    let jobs: Int
    let logger: Logger
    /// How the written files are made durable before `global/pg_control` is written.
    var durability = RestoreDurability.syncFileSystems

    init(chunkStore: ChunkStore, jobs: Int, logger: Logger) {
        self.chunkStore = chunkStore
        self.jobs = max(1, jobs)
        self.logger = logger
    }

    enum Mode: Sendable {
        /// Into empty (or absent) directories.
        case fresh
        /// Over an older copy of the same cluster: rewrite only what differs, remove what the
        /// backup does not have.
        case delta
        /// Whatever the directories hold is removed first (`--force`), once everything else
        /// was checked.
        case replace
    }

    /// Writes every file of `manifest` into `dataDirectory`; tablespace `oid`'s files into
    /// `tablespaceDirectories[oid]` (every tablespace of `manifest.tablespaces` must be mapped).
    /// `onProgress` gets content bytes done (written or, in delta mode, found unchanged) and the
    /// total, at most a few times per second. `configure` writes the recovery settings into the
    /// data directory (its root given) once every file is written and flushed, before
    /// `global/pg_control`; blocking, it runs on a blocking-I/O thread. `phases` laps `check`,
    /// `layout`, `content`, `finish`, `sync`, `configure` and `control`.
    func write(
        _ manifest: BackupManifest, dataDirectory: String, tablespaceDirectories: [UInt32: String],
        mode: Mode, onProgress: (@Sendable (_ bytesDone: Int64, _ bytesTotal: Int64) -> Void)?,
        configure: (@Sendable (RestoreRoot) throws -> Void)? = nil, phases: PhaseClock = PhaseClock()
    ) async throws -> RestoreWriteStats {
        let began = ContinuousClock.now
        let plan = try RestorePlan(manifest, dataDirectory: dataDirectory, tablespaceDirectories: tablespaceDirectories)
        try await BlockingIO.run { try RestoreTargets.check(plan, systemIdentifier: manifest.systemIdentifier, mode: mode) }

        // From here on the directory is being written: it carries RESTORE_FAILED until the end.
        let marker = RestoreMarker(manifest: manifest, started: Date())
        let roots = try await BlockingIO.run {
            try RestoreFiles.makeRoot(plan.dataDirectory)
            let data = try RestoreRoot.open(plan.dataDirectory)
            defer { data.close() }
            try marker.begin(in: data)
            if mode == .delta {
                try data.remove(RestorePlan.controlFilePath)
                try FileSystem.syncDirectory(FileSystem.directory(of: plan.entries[plan.controlFile].path))
            }
            return try RestoreRoots.open(plan)
        }
        defer { roots.close() }
        logger.info("restoring backup \(manifest.id)", metadata: [
            "pgdata": "\(plan.dataDirectory)", "mode": "\(mode)", "jobs": "\(jobs)", "bytes": "\(plan.bytesTotal)",
            "files": "\(plan.files.count)", "objects": "\(plan.pieces.count + 1)",
        ])
        do {
            var stats = try await writeAll(plan, roots: roots, mode: mode, onProgress: onProgress, configure: configure, phases: phases)
            try await BlockingIO.run { try marker.end(in: roots.dataDirectory) }
            stats.seconds = Self.seconds(ContinuousClock.now - began)
            logger.info("backup \(manifest.id) restored", metadata: [
                "written": "\(stats.filesWritten)", "unchanged": "\(stats.filesUnchanged)", "removed": "\(stats.filesRemoved)",
                "bytes_written": "\(stats.bytesWritten)", "chunks": "\(stats.chunksFetched)", "seconds": "\(stats.seconds)",
            ])
            return stats
        } catch {
            try? await BlockingIO.run { marker.fail(in: roots.dataDirectory, error: error) }
            logger.error("restore of backup \(manifest.id) failed", metadata: ["pgdata": "\(plan.dataDirectory)", "error": "\(error)"])
            throw error
        }
    }

    private func writeAll(
        _ plan: RestorePlan, roots: RestoreRoots, mode: Mode, onProgress: (@Sendable (Int64, Int64) -> Void)?,
        configure: (@Sendable (RestoreRoot) throws -> Void)?, phases: PhaseClock
    ) async throws -> RestoreWriteStats {
        var stats = RestoreWriteStats()
        stats.bytesTotal = plan.bytesTotal
        let flush = try await BlockingIO.run { try RestoreDurability.Flush(durability, roots: roots.all.map(\.root)) }
        defer { flush.close() }
        phases.lap("check")

        var phase = ContinuousClock.now
        if mode == .replace { logger.warning("--force: removing the contents of \(plan.roots.map(\.path).joined(separator: ", "))") }
        let (removed, layout) = try await BlockingIO.run {
            let removed = switch mode {
            case .fresh: (files: 0, directories: 0)
            case .replace: try RestoreTargets.clear(roots.all.map(\.root), dataDirectory: roots.dataDirectory)
            case .delta: try DeltaCleanup.run(plan, roots: roots)
            }
            return (removed, try RestoreLayout.make(plan, roots: roots, delta: mode == .delta))
        }
        stats.filesRemoved = removed.files
        stats.directoriesRemoved = removed.directories
        logger.debug("files laid out", metadata: ["seconds": "\(Self.seconds(ContinuousClock.now - phase))"])
        phases.lap("layout")
        phase = ContinuousClock.now
        var changed = layout.changed

        let content = PieceRestorer(chunkStore: chunkStore, jobs: jobs, plan: plan, roots: roots)
        try await content.run(check: layout.check, create: mode != .delta, stats: &stats, changed: &changed, onProgress: onProgress)
        logger.debug("content written", metadata: ["seconds": "\(Self.seconds(ContinuousClock.now - phase))"])
        phases.lap("content")
        phase = ContinuousClock.now

        // tablespace_map for the mapped directories; sizes, modes and times as in the manifest.
        if let tablespaceMapBytes = try await BlockingIO.run({ try RestoreLayout.finish(plan, roots: roots) }) {
            stats.bytesWritten += tablespaceMapBytes
            if let entry = plan.tablespaceMapEntry { changed[entry] = true }
        }
        logger.debug("files checked", metadata: ["seconds": "\(Self.seconds(ContinuousClock.now - phase))"])
        phases.lap("finish")

        // Durable before pg_control exists.
        let syncStarted = ContinuousClock.now
        try await BlockingIO.run { try flush.run() }
        stats.syncSeconds = Self.seconds(ContinuousClock.now - syncStarted)
        logger.debug("written files flushed", metadata: ["method": "\(flush.method)", "seconds": "\(stats.syncSeconds)"])
        phases.lap("sync")

        // The recovery settings, while RESTORE_FAILED is there: a failure leaves no pg_control.
        if let configure {
            let data = roots.dataDirectory
            try await BlockingIO.run { try configure(data) }
            phases.lap("configure")
        }

        // Last, pg_control: from now on PostgreSQL can start the directory.
        let control = try await content.controlFileContent()
        try await BlockingIO.run { try RestoreLayout.placeControlFile(control, plan: plan, roots: roots) }
        stats.bytesWritten += Int64(control.count)
        stats.chunksFetched += 1
        stats.bytesFetched += plan.controlPiece.size
        changed[plan.controlFile] = true
        phases.lap("control")
        onProgress?(plan.bytesTotal, plan.bytesTotal)

        for entry in plan.files {
            if changed[entry] { stats.filesWritten += 1 } else { stats.filesUnchanged += 1 }
        }
        if plan.regeneratesTablespaceMap && plan.tablespaceMapEntry == nil { stats.filesWritten += 1 }  // one the backup lacked
        return stats
    }

    private static func seconds(_ duration: Duration) -> Double {
        duration.inSeconds
    }
}
