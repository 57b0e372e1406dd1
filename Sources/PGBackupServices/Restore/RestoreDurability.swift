import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// How the written files are made durable before `global/pg_control` is written.
enum RestoreDurability: Sendable {
    /// One `syncfs(2)` per file system written to (`fsyncEachFile` where the C library lacks
    /// it). It also flushes what other processes wrote to those file systems, which on a
    /// restore target is usually little. Each chunk's write-back is started as soon as it is
    /// written (`FileSystem.startWriteback`), so little is left for it: measured here
    /// (pgbench -s 50, 770 MiB, 2 jobs, release build) 0.02 s, against 0.4 s without.
    /// `bench/restore` measures whole restores against the peers.
    case syncFileSystems
    /// fsync every file and directory written, children first.
    case fsyncEachFile

    /// What the restore will flush: for `syncFileSystems`, one descriptor per file system the
    /// roots are on, opened before anything is written (syncfs reports the write-back errors
    /// that happened since its descriptor was opened, not earlier ones).
    struct Flush: Sendable {
        let method: RestoreDurability
        private let fileSystems: [(descriptor: Int32, path: String)]
        private let roots: [RestoreRoot]

        /// Call with the roots open, before writing into them; `close()` when done.
        init(_ requested: RestoreDurability, roots: [RestoreRoot]) throws {
            self.method = RestoreFiles.canSyncFileSystems ? requested : .fsyncEachFile
            self.roots = roots
            var devices: Set<UInt64> = []
            var opened: [(descriptor: Int32, path: String)] = []
            if method == .syncFileSystems {
                for root in roots {
                    guard devices.insert(try RestoreFiles.device(of: root.path)).inserted else { continue }
                    let fd = dup(root.descriptor)
                    guard fd >= 0 else {
                        for fs in opened { _ = Glibc.close(fs.descriptor) }
                        throw FileSystemError(operation: "open", path: root.path, reason: FileSystem.errnoDescription())
                    }
                    opened.append((fd, root.path))
                }
            }
            self.fileSystems = opened
        }

        /// Makes everything written under the roots durable.
        func run() throws {
            switch method {
            case .syncFileSystems:
                for fs in fileSystems { try RestoreFiles.syncFileSystem(fs.descriptor, path: fs.path) }
            case .fsyncEachFile:
                for root in roots { try root.fsyncTree() }
            }
        }

        func close() {
            for fs in fileSystems { _ = Glibc.close(fs.descriptor) }
        }
    }
}
