import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository

/// The decisions of `pgbackup backup` that need neither the server nor the repository. Pure.
enum BackupDecisions {
    /// The server to take the backup from, given the primary the daemon would choose: that
    /// primary; else, when only a former primary answers (on a timeline older than the
    /// repository's newest), a refusal, since the WAL its backup needs would be kept apart as
    /// diverged; else nil, libpq's pick (a backup from a standby).
    static func server(from choice: PrimaryChoice, latestTimeline: TimelineID?) throws(BackupError) -> ConninfoServer? {
        if let primary = choice.primary { return primary.server }
        if let former = choice.formerPrimary, let timeline = former.identity?.timeline, let latestTimeline {
            throw BackupError.formerPrimary(server: "\(former.server)", timeline: timeline, repositoryTimeline: latestTimeline)
        }
        return nil
    }

    /// The manifest's files from what the stream split (`files`) and what the chunk pool stored
    /// (`stored`, by job), and the totals: the database's size and the new and deduplicated
    /// chunks. A job a file names that was never stored means the stream is incomplete.
    static func files(
        _ files: [SplitFile], stored: [Int: ChunkRef], contentBytes: Int64
    ) throws(BackupError) -> (files: [BackupManifest.File], totals: BackupManifest.Totals) {
        var totals = BackupManifest.Totals(databaseSize: contentBytes, newChunks: 0, storedNew: 0, deduplicatedChunks: 0, storedDeduplicated: 0)
        for ref in stored.values { totals.add(ref) }
        func chunk(_ job: Int) throws(BackupError) -> ChunkRef {
            guard let ref = stored[job] else { throw BackupError.incompleteStream("chunk \(job) was never stored") }
            return ref
        }
        var result: [BackupManifest.File] = []
        result.reserveCapacity(files.count)
        for file in files {
            var chunks: [BackupManifest.Chunk]?
            if !file.chunks.isEmpty {
                chunks = []
                for pending in file.chunks {
                    chunks?.append(BackupManifest.Chunk(offset: pending.offset, size: pending.size, sha256: try chunk(pending.job).sha256))
                }
            }
            var packed: BackupManifest.PackedContent?
            if let content = file.packed {
                let pack = try chunk(content.job)
                packed = BackupManifest.PackedContent(pack: pack.sha256, packSize: pack.size, offset: content.offset)
            }
            result.append(BackupManifest.File(
                path: file.path, tablespace: file.tablespace, type: file.type, mode: file.mode, mtime: file.mtime, size: file.size,
                sha256: file.sha256, chunks: chunks, packed: packed, linkTarget: file.linkTarget))
        }
        return (result, totals)
    }
}
