/// What `RestoreWriter.write` did. Regular files only in the file counts; `global/pg_control`
/// and a regenerated `tablespace_map` are always written (they count in `filesWritten`).
public struct RestoreWriteStats: Sendable, Codable, Hashable {
    /// Regular files created or whose content, size was changed (fresh: every regular file).
    public var filesWritten = 0
    /// Delta: regular files found with the backup's content already (mode and mtime reset).
    public var filesUnchanged = 0
    /// Delta: files and symbolic links the backup does not have (or of another type), removed.
    public var filesRemoved = 0
    /// Delta: directories the backup does not have, removed with everything in them.
    public var directoriesRemoved = 0
    /// Content bytes written into files.
    public var bytesWritten: Int64 = 0
    /// Delta: content bytes found equal to the backup's and left alone.
    public var bytesUnchanged: Int64 = 0
    /// Chunks and packs fetched (and verified) from the repository, each once, and their bytes
    /// (uncompressed).
    public var chunksFetched = 0
    public var bytesFetched: Int64 = 0
    /// Content bytes of the backup (every regular file's size).
    public var bytesTotal: Int64 = 0
    /// Wall-clock seconds, from the first check to the durable `global/pg_control`.
    public var seconds: Double = 0
    /// Of which flushing the written files to disk (before pg_control).
    public var syncSeconds: Double = 0

    public init() {}
}
