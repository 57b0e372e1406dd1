import Foundation
import PGBackupFoundations
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The temporary file a `FileObjectStore` put writes before renaming it into place, and the
/// sweep that removes those whose writer died.
///
/// **Names.** `<directory>/.pgbackup-tmp.<name>.<pid>.<16 random hex digits>`, created with
/// `O_EXCL`. The random part is new for every attempt, so a restarted process that gets the same
/// PID as a dead one (PID 1 in a container, after every restart) never meets its predecessor's
/// leftovers, and two puts of one key at once (in one process or several) never share a file.
/// `EEXIST` means the name is taken, by a leftover or a live writer: the attempt is repeated
/// under a new name, and the existing file is left alone.
///
/// **Ownership.** A writer holds an exclusive `flock(2)` on its temporary file from just after
/// creating it until the file is renamed into place (or unlinked) and closed; the kernel releases
/// the lock when the process dies, however it dies. The sweep removes a temporary file only while
/// holding that lock itself, taken with `LOCK_NB` (a lock held elsewhere means a live writer:
/// the file is skipped), and only after checking that the path still names the inode it locked.
/// Writer and sweep race in one window, between the writer's `open` and its `flock`: a sweep can
/// then lock and unlink the new file. The writer sees it once it holds the lock (`st_nlink == 0`)
/// and starts over under a new name, so a writer never writes into a file a sweep removed, and a
/// sweep never removes a file whose writer lives. Because `flock` is advisory and, on NFS,
/// emulated with POSIX locks that never conflict inside one process, this process's own live
/// temporary files are also kept in a set that the sweep skips. A writer outside this protocol
/// (a pgbackup from before it, during an upgrade) holds no lock: a sweep may remove its file,
/// and that put then fails at its rename and is retried; nothing stored is lost. The sweep's
/// `olderThan` can spare recently modified files for such writers.
struct FileTemporaryFile {
    /// The temporary file (`DurableFile`: created `O_EXCL | O_NOFOLLOW`, mode 0640 before the
    /// first byte), which a put commits or discards.
    let file: DurableFile

    var path: String { file.temporaryPath }
    var fd: Int32 { file.descriptor }

    static let prefix = DurableFile.temporaryPrefix

    /// Whether a file name is a temporary file's (these names are reserved; keys cannot use them).
    static func isTemporary(_ name: some StringProtocol) -> Bool { name.hasPrefix(prefix) }

    /// The paths of the temporary files this process has open for writing.
    private static let live = Mutex<Set<String>>([])

    /// Creates and locks a new temporary file for the object at `path`, in its existing
    /// directory, trying new names for `EEXIST` (`DurableFile.create`) and for a file a sweep
    /// removed before it was locked; makes the directory again when a `delete` removed it,
    /// empty, meanwhile. Blocking; call from a blocking-I/O thread.
    static func create(for path: String, suffix: () -> String) throws -> FileTemporaryFile {
        for _ in 0..<16 {
            let file: DurableFile
            do {
                file = try DurableFile.create(path, mode: 0o640, owner: nil, suffix: suffix)
            } catch {
                let directory = FileSystem.directory(of: path)
                var info = stat()
                guard stat(directory, &info) != 0, errno == ENOENT else { throw error }
                try FileSystem.makeDirectories(directory)
                continue
            }
            live.withLock { _ = $0.insert(file.temporaryPath) }
            var result: Int32
            repeat { result = flock(file.descriptor, LOCK_EX) } while result != 0 && errno == EINTR
            var info = stat()
            guard result == 0, fstat(file.descriptor, &info) == 0 else {
                let reason = FileSystem.errnoDescription()
                FileTemporaryFile(file: file).discard()
                throw FileSystemError(operation: "lock", path: file.temporaryPath, reason: reason)
            }
            if info.st_nlink > 0 { return FileTemporaryFile(file: file) }
            // A sweep took it between the open and the flock: the file is gone, try a new name.
            FileTemporaryFile(file: file).close()
        }
        throw FileSystemError(operation: "create", path: "\(FileSystem.directory(of: path))/\(prefix)*", reason: "every name tried was taken")
    }

    /// fsyncs the file, renames it into place and fsyncs the directory (`DurableFile.commit`);
    /// closed, and so unlocked, only once renamed: a sweep never sees it unlocked. On failure the
    /// file is removed.
    func commit() throws {
        defer { Self.live.withLock { _ = $0.remove(path) } }
        try file.commit()
    }

    /// The writer renamed or linked the file itself: closing releases the lock.
    func close() {
        Self.live.withLock { _ = $0.remove(path) }
        file.close()
    }

    /// Abandons the file: unlinks it while still holding the lock, then closes it.
    func discard() {
        file.discard()
        Self.live.withLock { _ = $0.remove(path) }
    }

    /// Removes every temporary file under `root` that no live writer holds and that was last
    /// modified more than `age` seconds ago; returns how many it removed. Blocking.
    static func sweep(root: String, olderThan age: TimeInterval) throws -> Int {
        let deadline = Date().addingTimeInterval(-age)
        var removed = 0
        try FileSystem.walk(root: root, relativeDirectory: "") { relative, _ in
            guard isTemporary(relative.split(separator: "/").last!) else { return }
            if removeIfAbandoned(root + "/" + relative, deadline: deadline) { removed += 1 }
        }
        return removed
    }

    private static func removeIfAbandoned(_ path: String, deadline: Date) -> Bool {
        guard !live.withLock({ $0.contains(path) }) else { return false }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        // Held: a live writer's file. The lock goes with our descriptor, after the unlink.
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, !live.withLock({ $0.contains(path) }) else { return false }
        var locked = stat(), named = stat()
        guard fstat(fd, &locked) == 0, lstat(path, &named) == 0,
              locked.st_dev == named.st_dev, locked.st_ino == named.st_ino,
              FileSystem.modificationDate(locked) <= deadline
        else { return false }
        return unlink(path) == 0
    }
}
