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
/// How it goes (`RestorePlan` first checks the manifest and the mapping, touching nothing):
/// 1. Refuses a non-empty data or tablespace directory in `.fresh` mode, a live postmaster in
///    `.delta` mode — before writing anything.
/// 2. Leaves `RESTORE_FAILED` in the data directory (and in `.delta` removes `global/pg_control`)
///    before anything else is written: until the restore completes, PostgreSQL cannot start the
///    directory, and whoever looks finds why.
/// 3. `.delta`: removes everything the backup does not have (stale WAL, `postmaster.pid`,
///    `backup_label.old`, dropped relations, …), entries of another type than the backup's.
/// 4. Creates the directories (0700), the symbolic links, and `pg_tblspc/<oid>` → the mapped
///    directory; `.delta` resizes every regular file to its size (so chunks land in any order),
///    `.fresh` lets the first piece written to a file create it.
/// 5. Streams each distinct chunk and pack once (`ChunkStore.stream` verifies it against its
///    seal and its digest at the end), `jobs` at a time, writing each decoded piece with `pwrite`
///    at every place it belongs (`PieceWriter`); packed files are checked against their own
///    SHA-256. `.delta` first hashes the local bytes of each place and fetches only what differs.
/// 6. Regenerates `tablespace_map` for the mapped directories (PostgreSQL recreates the links
///    from it when recovery starts), checks every file's size and sets the manifest's mtimes.
/// 7. Flushes every file system written to (`syncfs`), then writes `global/pg_control` — last —
///    through a temporary file, fsync and rename, fsyncs `global/`, and removes `RESTORE_FAILED`.
///
/// Left to the caller: ownership (files belong to whoever runs the restore; PostgreSQL needs its
/// own user to own the directory, 0700), and recovery settings (`recovery.signal`,
/// `postgresql.auto.conf`), written after `write` returns — a delta restore removes a
/// `recovery.signal` the backup does not have, and restores `postgresql.auto.conf` as backed up.
///
/// Memory: `jobs` times the codec's buffers and one read piece (1 MiB), plus the plan, about as
/// large as the manifest; independent of the database and chunk sizes.
struct RestoreWriter: Sendable {
    let chunkStore: ChunkStore
    let jobs: Int
    let logger: Logger
    /// How the written files are made durable before `global/pg_control` is written.
    var durability = Durability.syncFileSystems

    enum Durability: Sendable {
        /// One `syncfs(2)` per file system written to (`fsyncEachFile` where the C library lacks
        /// it). It also flushes what other processes wrote to those file systems, which on a
        /// restore target is usually little. Each chunk's write-back is started as soon as it is
        /// written (`RestoreFiles.startWriteback`), so little is left for it: measured here
        /// (pgbench -s 50, 770 MiB, 2 jobs, release build) 0.02 s, against 0.4 s without.
        /// `bench/restore` measures whole restores against the peers.
        case syncFileSystems
        /// fsync every file and directory written, children first.
        case fsyncEachFile
    }

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
    }

    /// Progress is reported at most this often (plus once at the end).
    static let progressInterval = Duration.milliseconds(250)

    /// Writes every file of `manifest` into `dataDirectory`; tablespace `oid`'s files into
    /// `tablespaceDirectories[oid]` (every tablespace of `manifest.tablespaces` must be mapped).
    /// `onProgress` gets content bytes done (written or, in delta mode, found unchanged) and the
    /// total, at most a few times per second.
    func write(
        _ manifest: BackupManifest, dataDirectory: String, tablespaceDirectories: [UInt32: String],
        mode: Mode, onProgress: (@Sendable (_ bytesDone: Int64, _ bytesTotal: Int64) -> Void)?
    ) async throws -> RestoreWriteStats {
        let began = ContinuousClock.now
        let plan = try RestorePlan(manifest, dataDirectory: dataDirectory, tablespaceDirectories: tablespaceDirectories)
        try await BlockingIO.run { try Self.checkTargets(plan, mode: mode) }

        // From here on the directory is being written: it carries RESTORE_FAILED until the end.
        let marker = plan.dataDirectory + "/" + RestorePlan.failureMarker
        let started = Date()
        try await BlockingIO.run {
            try RestoreFiles.makeRoot(plan.dataDirectory)
            try RestoreFiles.writeDurably(marker, Array(Self.inProgressText(manifest, plan: plan, since: started).utf8))
            try FileSystem.syncDirectory(plan.dataDirectory)
            if mode == .delta {
                let control = plan.entries[plan.controlFile].path
                try RestoreFiles.removeTree(control)
                try FileSystem.syncDirectory(FileSystem.directory(of: control))
            }
        }
        logger.info("restoring backup \(manifest.id)", metadata: [
            "pgdata": "\(plan.dataDirectory)", "mode": "\(mode)", "jobs": "\(jobs)", "bytes": "\(plan.bytesTotal)",
            "files": "\(plan.files.count)", "objects": "\(plan.pieces.count + 1)",
        ])
        do {
            var stats = try await writeAll(plan, mode: mode, onProgress: onProgress)
            try await BlockingIO.run {
                try RestoreFiles.removeTree(marker)
                try FileSystem.syncDirectory(plan.dataDirectory)
            }
            stats.seconds = Self.seconds(ContinuousClock.now - began)
            logger.info("backup \(manifest.id) restored", metadata: [
                "written": "\(stats.filesWritten)", "unchanged": "\(stats.filesUnchanged)", "removed": "\(stats.filesRemoved)",
                "bytes_written": "\(stats.bytesWritten)", "chunks": "\(stats.chunksFetched)", "seconds": "\(stats.seconds)",
            ])
            return stats
        } catch {
            let text = Self.failureText(manifest, plan: plan, since: started, error: error)
            try? await BlockingIO.run {
                try RestoreFiles.writeDurably(marker, Array(text.utf8))
                try FileSystem.syncDirectory(plan.dataDirectory)
            }
            logger.error("restore of backup \(manifest.id) failed", metadata: ["pgdata": "\(plan.dataDirectory)", "error": "\(error)"])
            throw error
        }
    }

    // MARK: the steps

    private func writeAll(
        _ plan: RestorePlan, mode: Mode, onProgress: (@Sendable (Int64, Int64) -> Void)?
    ) async throws -> RestoreWriteStats {
        var stats = RestoreWriteStats()
        stats.bytesTotal = plan.bytesTotal
        // One descriptor per file system, opened before anything is written: syncfs reports the
        // write-back errors that happened since its descriptor was opened, not earlier ones.
        let durability = RestoreFiles.canSyncFileSystems ? durability : .fsyncEachFile
        let fileSystems = try await BlockingIO.run {
            durability == .syncFileSystems ? try Self.openFileSystems(plan) : []
        }
        defer { for fs in fileSystems { close(fs.descriptor) } }

        var phase = ContinuousClock.now
        let layout = try await BlockingIO.run { try Self.layOut(plan, mode: mode) }
        logger.debug("files laid out", metadata: ["seconds": "\(Self.seconds(ContinuousClock.now - phase))"])
        phase = ContinuousClock.now
        stats.filesRemoved = layout.filesRemoved
        stats.directoriesRemoved = layout.directoriesRemoved
        var changed = layout.changed

        // The content, `jobs` objects at a time.
        var done: Int64 = 0
        var lastReport = ContinuousClock.now
        onProgress?(0, plan.bytesTotal)
        try await withThrowingTaskGroup(of: PieceOutcome.self) { group in
            var running = 0
            func collect(_ outcome: PieceOutcome) {
                if outcome.fetched {
                    stats.chunksFetched += 1
                    stats.bytesFetched += outcome.fetchedBytes
                }
                stats.bytesWritten += outcome.bytesWritten
                stats.bytesUnchanged += outcome.bytesUnchanged
                for entry in outcome.written { changed[entry] = true }
                done += outcome.bytesWritten + outcome.bytesUnchanged
                if let onProgress, ContinuousClock.now - lastReport >= Self.progressInterval {
                    lastReport = ContinuousClock.now
                    onProgress(done, plan.bytesTotal)
                }
            }
            for piece in plan.pieces {
                if running == jobs, let outcome = try await group.next() {
                    collect(outcome)
                    running -= 1
                }
                group.addTask { try await restore(piece, plan: plan, check: layout.check, create: mode == .fresh) }
                running += 1
            }
            for try await outcome in group { collect(outcome) }
        }

        logger.debug("content written", metadata: ["seconds": "\(Self.seconds(ContinuousClock.now - phase))"])
        phase = ContinuousClock.now

        // tablespace_map for the mapped directories; sizes and times as in the manifest.
        let tablespaceMapBytes = try await BlockingIO.run { try Self.finish(plan) }
        if let tablespaceMapBytes {
            stats.bytesWritten += tablespaceMapBytes
            if let entry = plan.tablespaceMapEntry { changed[entry] = true }
        }

        logger.debug("files checked", metadata: ["seconds": "\(Self.seconds(ContinuousClock.now - phase))"])

        // Durable before pg_control exists: one syncfs per file system.
        let syncStarted = ContinuousClock.now
        try await BlockingIO.run {
            switch durability {
            case .syncFileSystems:
                for fs in fileSystems { try RestoreFiles.syncFileSystem(fs.descriptor, path: fs.path) }
            case .fsyncEachFile:
                for root in plan.roots { try RestoreFiles.fsyncTree(root.path) }
            }
        }
        stats.syncSeconds = Self.seconds(ContinuousClock.now - syncStarted)
        logger.debug("written files flushed", metadata: ["method": "\(durability)", "seconds": "\(stats.syncSeconds)"])

        // Last, pg_control: from now on PostgreSQL can start the directory.
        let controlBytes = try await writeControlFile(plan)
        stats.bytesWritten += controlBytes
        stats.chunksFetched += 1
        stats.bytesFetched += plan.controlPiece.size
        changed[plan.controlFile] = true
        onProgress?(plan.bytesTotal, plan.bytesTotal)

        for entry in plan.files {
            if changed[entry] { stats.filesWritten += 1 } else { stats.filesUnchanged += 1 }
        }
        if plan.regeneratesTablespaceMap && plan.tablespaceMapEntry == nil { stats.filesWritten += 1 }  // one the backup lacked
        return stats
    }

    /// Makes the roots and opens one of them per file system they are on.
    private static func openFileSystems(_ plan: RestorePlan) throws -> [(descriptor: Int32, path: String)] {
        var devices: Set<UInt64> = []
        var opened: [(descriptor: Int32, path: String)] = []
        do {
            for root in plan.roots {
                try RestoreFiles.makeRoot(root.path)
                guard devices.insert(try RestoreFiles.device(of: root.path)).inserted else { continue }
                let fd = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                guard fd >= 0 else { throw FileSystemError(operation: "open", path: root.path, reason: FileSystem.errnoDescription()) }
                opened.append((fd, root.path))
            }
        } catch {
            for fs in opened { close(fs.descriptor) }
            throw error
        }
        return opened
    }

    /// Refuses targets the mode cannot write into, before anything is written.
    private static func checkTargets(_ plan: RestorePlan, mode: Mode) throws {
        switch mode {
        case .fresh:
            for root in plan.roots where try !RestoreFiles.isEmptyOrAbsent(root.path) {
                throw RestoreError.directoryNotEmpty(path: root.path)
            }
        case .delta:
            for root in plan.roots {
                if let type = try RestoreFiles.type(at: root.path), type != S_IFDIR {
                    throw FileSystemError(operation: "restore into", path: root.path, reason: "it is not a directory")
                }
            }
            let pidFile = plan.dataDirectory + "/postmaster.pid"
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
                let pid = Int32(text.split(separator: "\n", maxSplits: 1).first?.trimmingCharacters(in: .whitespaces) ?? ""),
                pid > 0, kill(pid, 0) == 0 || errno == EPERM {
                throw RestoreError.serverRunning(dataDirectory: plan.dataDirectory, pid: pid)
            }
        }
    }

    struct Layout: Sendable {
        /// By entry: whether its content must be compared before writing (delta, a file that
        /// was there), and whether the file was created or resized.
        var check: [Bool]
        var changed: [Bool]
        var filesRemoved = 0
        var directoriesRemoved = 0
    }

    /// Removes what the backup does not have (delta), then creates the roots, directories, links
    /// and the regular files at their size. Not `global/pg_control`, nor a regenerated
    /// `tablespace_map`: they come at the end.
    ///
    /// `.fresh` creates only the empty files here: every other file is created by the first
    /// piece written to it (`PieceWriter`), so that creating the files (ext4 here takes up to
    /// 0.6 ms per new inode, serialized in the kernel) overlaps fetching and decoding; `finish`
    /// then checks every size and sets every mode. In release builds that took 0.5–0.8 s off a
    /// 770 MiB restore on this machine.
    private static func layOut(_ plan: RestorePlan, mode: Mode) throws -> Layout {
        var layout = try makeTree(plan, mode: mode)
        for index in plan.files where index != plan.controlFile && index != plan.tablespaceMapEntry {
            if mode == .fresh && plan.entries[index].size > 0 {
                layout.changed[index] = true
                continue
            }
            let made = try makeFile(plan.entries[index], index: index, mode: mode)
            layout.check[index] = made.check
            layout.changed[index] = made.changed
        }
        return layout
    }

    /// The roots, (delta) without what the backup does not have, the directories and the links.
    private static func makeTree(_ plan: RestorePlan, mode: Mode) throws -> Layout {
        var layout = Layout(check: Array(repeating: false, count: plan.entries.count), changed: Array(repeating: false, count: plan.entries.count))
        for root in plan.roots { try RestoreFiles.makeRoot(root.path) }
        if mode == .delta { try removeExtraneous(plan, layout: &layout) }
        for index in plan.directories { try RestoreFiles.makeDirectory(plan.entries[index].path) }
        for index in plan.symlinks {
            let entry = plan.entries[index]
            try RestoreFiles.makeSymlink(entry.path, target: entry.linkTarget!)
        }
        for (oid, directory) in plan.tablespaceDirectories.sorted(by: { $0.key < $1.key }) {
            try RestoreFiles.makeSymlink(plan.dataDirectory + "/pg_tblspc/\(oid)", target: directory)
        }
        return layout
    }

    /// A regular file at its size and mode (delta: the one there, resized if need be). Returns
    /// whether its content must be compared before writing (only bytes that were there can
    /// match; a created file or an extension is zeros) and whether it was created or resized.
    private static func makeFile(_ entry: RestorePlan.Entry, index: Int, mode: Mode) throws -> (index: Int, check: Bool, changed: Bool) {
        let existed = try mode == .delta && RestoreFiles.type(at: entry.path) == S_IFREG
        let fd = try RestoreFiles.openForWriting(entry.path, create: true, mode: entry.mode)
        defer { close(fd) }
        let size: Int64 = existed ? try RestoreFiles.size(of: fd, path: entry.path) : -1
        if size != entry.size {
            try RestoreFiles.check(ftruncate(fd, off_t(entry.size)), "set the size of", entry.path)
        }
        try RestoreFiles.check(fchmod(fd, mode_t(entry.mode)), "set the mode of", entry.path)
        return (index, existed && min(size, entry.size) > 0, size != entry.size)
    }

    /// Delta: removes every entry under the roots that the backup does not have, or has with
    /// another type (never following links: a link is removed, not what it points to). Keeps
    /// `RESTORE_FAILED` and the `pg_tblspc/<oid>` links (remade if they point elsewhere).
    private static func removeExtraneous(_ plan: RestorePlan, layout: inout Layout) throws {
        var expected: [String: BackupManifest.FileType] = [:]
        for entry in plan.entries { expected[entry.display] = entry.type }
        if plan.regeneratesTablespaceMap { expected[RestorePlan.tablespaceMapPath] = .file }
        var keep: Set<String> = [RestorePlan.failureMarker]
        for oid in plan.tablespaceDirectories.keys { keep.insert("pg_tblspc/\(oid)") }

        func clean(_ root: String, prefix: String, relative: String) throws {
            let directory = relative.isEmpty ? root : root + "/" + relative
            for name in try RestoreFiles.names(in: directory) {
                let path = directory + "/" + name
                let relativePath = relative.isEmpty ? name : relative + "/" + name
                let key = prefix + relativePath
                if keep.contains(key) { continue }
                let type = try RestoreFiles.type(at: path)
                let actual: BackupManifest.FileType? = switch type {
                case S_IFDIR: .directory
                case S_IFREG: .file
                case S_IFLNK: .symlink
                default: nil
                }
                if let actual, actual == expected[key] {
                    if actual == .directory { try clean(root, prefix: prefix, relative: relativePath) }
                    continue
                }
                if type == S_IFDIR { layout.directoriesRemoved += 1 } else { layout.filesRemoved += 1 }
                try RestoreFiles.removeTree(path)
            }
        }
        for root in plan.roots where try RestoreFiles.type(at: root.path) == S_IFDIR {
            try clean(root.path, prefix: root.tablespace.map { "pg_tblspc/\($0)/" } ?? "", relative: "")
        }
    }

    struct PieceOutcome: Sendable {
        var fetched = false
        var fetchedBytes: Int64 = 0
        /// Entries some content was written to.
        var written: [Int] = []
        var bytesWritten: Int64 = 0
        var bytesUnchanged: Int64 = 0
    }

    /// One chunk or pack: (delta) hashes the local bytes of each place it belongs, then fetches
    /// it unless they all match, and writes it where they do not.
    private func restore(_ piece: RestorePlan.Piece, plan: RestorePlan, check: [Bool], create: Bool) async throws -> PieceOutcome {
        var outcome = PieceOutcome()
        var pending = piece.targets
        if pending.contains(where: { check[$0.entry] }) {
            let targets = pending
            let matches: [Bool] = try await BlockingIO.run {
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
                defer { buffer.deallocate() }
                return try targets.map { target in
                    guard check[target.entry] else { return false }
                    let local = try RestoreFiles.sha256(
                        of: plan.entries[target.entry].path, offset: target.fileOffset, length: target.length, buffer: buffer)
                    return local == (target.sha256 ?? piece.sha256)
                }
            }
            pending = []
            for (target, match) in zip(targets, matches) {
                if match { outcome.bytesUnchanged += target.length } else { pending.append(target) }
            }
            if pending.isEmpty { return outcome }
        }

        let targets = pending
        let writer = PieceWriter(pack: piece.sha256, targets: targets, entries: plan.entries, create: create)
        do {
            try await chunkStore.stream(sha256: piece.sha256, size: piece.size) { try writer.write($0) }
            try await BlockingIO.run { try writer.finish() }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as RestoreError {
            throw error
        } catch let error as FileSystemError {
            throw error
        } catch {
            throw RestoreError.chunkFailed(
                object: objectName(of: piece.sha256, failure: error),
                files: Array(Set(piece.targets.map { plan.entries[$0.entry].display })).sorted(), cause: "\(error)")
        }
        outcome.fetched = true
        outcome.fetchedBytes = piece.size
        outcome.written = targets.map(\.entry)
        outcome.bytesWritten = targets.reduce(0) { $0 + $1.length }
        return outcome
    }

    /// The key a failure names, or the chunk's keys with any extension when none does.
    private func objectName(of sha256: SHA256Digest, failure: any Error) -> String {
        switch failure {
        case let error as SealError: return error.object
        case let ChunkStoreError.contentMismatch(key, _): return key
        case let ChunkStoreError.sizeMismatch(key, _, _): return key
        case let StorageError.notFound(key, _): return key
        case let StorageError.failed(_, key, _, _): return key
        default:
            let key = chunkStore.layout.chunkKey(sha256, chunkStore.compression.algorithm)
            return String(key[..<(key.lastIndex(of: ".") ?? key.endIndex)]) + ".*"
        }
    }

    /// Writes the regenerated `tablespace_map` (returns its length; nil when not regenerated),
    /// checks every regular file's size and sets the manifest's modification times (files and
    /// links, then directories deepest first, since creating entries touches a directory's).
    private static func finish(_ plan: RestorePlan) throws -> Int64? {
        var tablespaceMapBytes: Int64?
        if plan.regeneratesTablespaceMap {
            let bytes = Array(TablespaceMap.format(plan.tablespaceDirectories).utf8)
            let mode = plan.tablespaceMapEntry.map { plan.entries[$0].mode } ?? 0o600
            try RestoreFiles.writeDurably(plan.dataDirectory + "/" + RestorePlan.tablespaceMapPath, bytes, mode: mode)
            tablespaceMapBytes = Int64(bytes.count)
        }
        for index in plan.files where index != plan.controlFile && index != plan.tablespaceMapEntry {
            let entry = plan.entries[index]
            var info = stat()
            try RestoreFiles.check(lstat(entry.path, &info), "inspect", entry.path)
            guard Int64(info.st_size) == entry.size else {
                throw RestoreError.sizeMismatch(path: entry.display, expected: entry.size, actual: Int64(info.st_size))
            }
            if UInt32(info.st_mode & 0o7777) != entry.mode {  // created under the umask by a first write
                try RestoreFiles.check(chmod(entry.path, mode_t(entry.mode)), "set the mode of", entry.path)
            }
            try RestoreFiles.setModificationTime(entry.path, seconds: entry.mtimeSeconds, nanoseconds: entry.mtimeNanoseconds)
        }
        if let index = plan.tablespaceMapEntry {
            let entry = plan.entries[index]
            try RestoreFiles.setModificationTime(entry.path, seconds: entry.mtimeSeconds, nanoseconds: entry.mtimeNanoseconds)
        }
        for index in plan.symlinks {
            let entry = plan.entries[index]
            try RestoreFiles.setModificationTime(entry.path, seconds: entry.mtimeSeconds, nanoseconds: entry.mtimeNanoseconds)
        }
        for index in plan.directories.reversed() {
            let entry = plan.entries[index]
            try RestoreFiles.setModificationTime(entry.path, seconds: entry.mtimeSeconds, nanoseconds: entry.mtimeNanoseconds)
        }
        return tablespaceMapBytes
    }

    /// Fetches `global/pg_control`'s content, checks it, writes it to a temporary file with its
    /// mode and mtime, fsyncs it, renames it into place and fsyncs `global/`. Returns its size.
    private func writeControlFile(_ plan: RestorePlan) async throws -> Int64 {
        let piece = plan.controlPiece
        let entry = plan.entries[plan.controlFile]
        let content: [UInt8]
        do {
            content = try await chunkStore.fetch(sha256: piece.sha256, size: piece.size)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw RestoreError.chunkFailed(object: objectName(of: piece.sha256, failure: error), files: [entry.display], cause: "\(error)")
        }
        return try await BlockingIO.run {
            let target = piece.targets[0]
            let bytes = Array(content[Int(target.sourceOffset)..<Int(target.sourceOffset + target.length)])
            if let expected = target.sha256 {
                let actual = SHA256Hasher.hash(bytes)
                guard actual == expected else {
                    throw RestoreError.packedFileMismatch(path: entry.display, pack: piece.sha256, expected: expected, actual: actual)
                }
            }
            let temporary = entry.path + ".pgbackup-restore"
            let directory = FileSystem.directory(of: entry.path)
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode_t(entry.mode))
            guard fd >= 0 else { throw FileSystemError(operation: "create", path: temporary, reason: FileSystem.errnoDescription()) }
            do {
                defer { close(fd) }
                try bytes.withUnsafeBytes { try RestoreFiles.write(fd, $0, at: 0, path: temporary) }
                try RestoreFiles.check(fchmod(fd, mode_t(entry.mode)), "set the mode of", temporary)
                let time = timespec(tv_sec: entry.mtimeSeconds, tv_nsec: entry.mtimeNanoseconds)
                let times = [time, time]
                try RestoreFiles.check(futimens(fd, times), "set the modification time of", temporary)
                try RestoreFiles.check(fsync(fd), "fsync", temporary)
            }
            try RestoreFiles.check(rename(temporary, entry.path), "rename into place", temporary)
            try FileSystem.syncDirectory(directory)
            return Int64(bytes.count)
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    // MARK: RESTORE_FAILED

    private static func inProgressText(_ manifest: BackupManifest, plan: RestorePlan, since: Date) -> String {
        """
        pgbackup is restoring backup \(manifest.id) of server '\(manifest.server)' into this directory (started \(since.formatted(.iso8601))).
        If this file is still here, that restore did not complete (interrupted): the directory is incomplete and has
        no global/pg_control, so PostgreSQL will not start it. Run the restore again (--delta reuses what was written).

        """
    }

    private static func failureText(_ manifest: BackupManifest, plan: RestorePlan, since: Date, error: any Error) -> String {
        """
        pgbackup could not restore backup \(manifest.id) of server '\(manifest.server)' into this directory (started \(since.formatted(.iso8601)), failed \(Date().formatted(.iso8601))):

        \(error)

        The directory is incomplete and has no global/pg_control, so PostgreSQL will not start it.
        Fix the cause and run the restore again (--delta reuses what was written), or restore another backup.

        """
    }
}
