import Foundation
import PGBackupFoundations
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Group commit for `file://` puts: a named opt-out of the per-put fsyncs, for a writer of many
/// objects that needs them durable only at one point (a backup's chunks, before `backup.json`).
///
/// A put committed while a batch is bound (`$current.withValue`) is not renamed into place at
/// once: it stays a locked temporary file, invisible, until `flush()` — or until `limit` of them
/// are pending, when the commit that reaches the limit flushes them all. A flush starts the
/// write-back of every pending file at once, fsyncs each (the first wait covers most of the
/// others' data, instead of one journal commit per file), renames each into place, then fsyncs
/// every directory that gained an entry once. So an object is visible only once its content is
/// durable — as with an ordinary put, a crash leaves it whole or absent, never torn — and once
/// `flush()` returns, every put committed before it is visible *and* its name durable.
///
/// Until then a committed put is neither visible nor durable: the caller must not publish
/// anything that refers to it before `flush()` returns (`BackupService` flushes before
/// `backup.json`), and must not expect `head`/`list`/`reader` to find it (the chunk store asks
/// its in-memory `ChunkIndex` instead). A batch released without a flush discards what is
/// pending. Other stores (S3) ignore the batch: their puts are durable when they return.
///
/// Bound as a task-local so that it reaches the file store's writers through whatever wraps the
/// store (`EncryptedObjectStore`) without a parameter on every layer in between; tasks started
/// inside the binding (a task group's children) inherit it, others (the WAL) do not.
public final class DeferredDurability: Sendable {
    /// The batch that `FileObjectStore` puts in this task join, if any.
    @TaskLocal public static var current: DeferredDurability?

    /// Pending puts that make the committing put flush them all (a bound on open descriptors).
    public let limit: Int

    struct Pending {
        var temporary: FileTemporaryFile
        var path: String
        var key: String
        var store: String
    }

    private struct State {
        var pending: [Pending] = []
        /// Directories whose entries changed (created, or gaining a renamed object): fsync'd by
        /// the next flush.
        var directories: Set<String> = []
        var flushed = 0
    }

    private let state = Mutex(State())

    public init(limit: Int = 128) {
        self.limit = max(1, limit)
    }

    deinit {
        // Released without a flush (the backup failed): nothing pending becomes visible.
        state.withLock { state in
            for put in state.pending { put.temporary.discard() }
            state.pending = []
        }
    }

    /// Puts made visible and durable so far.
    public var flushedCount: Int { state.withLock { $0.flushed } }

    /// Puts committed and not flushed yet.
    public var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Records a directory whose entries changed (a new subdirectory in it).
    func directoryChanged(_ path: String) {
        _ = state.withLock { $0.directories.insert(path) }
    }

    /// A committed put. Blocking: flushes when the batch is full.
    func add(_ put: Pending) throws {
        let full = state.withLock { state in
            state.pending.append(put)
            return state.pending.count >= limit
        }
        if full { try flushNow() }
    }

    /// Makes every put committed so far visible and durable, with the directories that hold
    /// them. Throws `StorageError.failed` naming the first object that could not be made
    /// durable; the rest are then discarded (their puts must be redone).
    public func flush() async throws {
        try await BlockingIO.run { try self.flushNow() }
    }

    /// `flush`, on the calling thread.
    func flushNow() throws {
        let (batch, directories) = state.withLock { state in
            let taken = (state.pending, state.directories)
            state.pending = []
            state.directories = []
            return taken
        }
        var remaining = batch[...]
        defer { for put in remaining { put.temporary.discard() } }
        for put in batch { FileSystem.startWriteback(put.temporary.fd) }
        for put in batch where fsync(put.temporary.fd) != 0 {
            throw StorageError.failed(operation: "fsync", key: put.key, store: put.store, reason: FileSystem.errnoDescription())
        }
        var renamedInto = directories
        while let put = remaining.first {
            guard rename(put.temporary.path, put.path) == 0 else {
                throw StorageError.failed(operation: "rename into place", key: put.key, store: put.store, reason: FileSystem.errnoDescription())
            }
            // Closed (and unlocked) only once renamed: a sweep never sees it unlocked.
            put.temporary.close()
            remaining = remaining.dropFirst()
            renamedInto.insert(FileSystem.directory(of: put.path))
        }
        for directory in renamedInto.sorted(by: { $0.count > $1.count }) {
            do {
                try FileSystem.syncDirectory(directory)
            } catch {
                let put = batch.first { FileSystem.directory(of: $0.path) == directory }
                throw StorageError.failed(operation: "fsync the directory of", key: put?.key ?? directory, store: put?.store ?? "", reason: "\(error)")
            }
        }
        state.withLock { $0.flushed += batch.count }
    }

    /// `mkdir -p` whose new directories are made durable by the next flush rather than now.
    func makeDirectories(_ path: String, mode: mode_t = 0o750) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw FileSystemError(operation: "create directory", path: path, reason: "a file of that name exists")
            }
            return
        }
        let parent = FileSystem.directory(of: path)
        if parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw FileSystemError(operation: "create directory", path: path, reason: FileSystem.errnoDescription())
        }
        directoryChanged(parent)
    }
}
