/// Data pages whose checksum PostgreSQL found wrong while it sent a base backup (with data
/// checksums on, `BASE_BACKUP` verifies every page of every relation file it reads).
///
/// The server sends such pages as it read them (damaged), completes the backup, and only then
/// ends it with an ERROR of SQLSTATE XX001; before that it names the failures in WARNING notices:
/// each failed block (at most 5 per file), each file's count when over one, and the total when
/// over one. This is what those notices said, kept in `backup.json` (`checksumFailures`) so that
/// `list`, `show` and `check` never present such a backup as clean.
///
/// JSON: `{"total": 8, "files": [{"path": "base/5/16384", "pages": 8, "blocks": [1, 3, 5, 6, 7]}]}`
/// (`tablespace` appears for a file of a tablespace other than the main data directory).
public struct PageChecksumFailures: Codable, Sendable, Hashable {
    /// Pages that failed in all, as the server counted them. At least 1 when the server reported
    /// failures, even if none of its notices could be read (a translated `lc_messages`).
    public var total: Int
    /// The files with failed pages, in the order the server named them. Empty when the server
    /// reported failures in notices pgbackup could not read.
    public var files: [File]

    /// One file with failed pages.
    public struct File: Codable, Sendable, Hashable {
        /// Relative to its tablespace's root, as `BackupManifest.File.path`: the data directory
        /// for `tablespace == nil` (e.g. `base/5/16384`), else the tablespace's directory
        /// (`PG_15_202209061/5/16390`). A file the server named outside both is kept as named.
        public var path: String
        /// The tablespace's OID; nil for the main data directory.
        public var tablespace: UInt32?
        /// Pages of the file whose checksum failed.
        public var pages: Int
        /// The block numbers the server named, in its order: the first failures only
        /// (PostgreSQL names at most 5 per file).
        public var blocks: [UInt32]

        public init(path: String, tablespace: UInt32? = nil, pages: Int, blocks: [UInt32]) {
            self.path = path
            self.tablespace = tablespace
            self.pages = pages
            self.blocks = blocks
        }

        /// The path from the data directory (`pg_tblspc/<oid>/…` for a tablespace's file), as
        /// PostgreSQL's `backup_manifest` and a restored data directory name it.
        public var dataDirectoryPath: String {
            tablespace.map { "pg_tblspc/\($0)/\(path)" } ?? path
        }
    }

    public init(total: Int = 0, files: [File] = []) {
        self.total = total
        self.files = files
    }

    /// True when nothing was recorded.
    public var isEmpty: Bool { total == 0 && files.isEmpty }

    /// Counts one named failure of block `block` in `path` (the server's WARNING
    /// `checksum verification failed in file …, block N`).
    public mutating func recordFailure(path: String, tablespace: UInt32?, block: UInt32) {
        let index = fileIndex(path: path, tablespace: tablespace)
        files[index].blocks.append(block)
        files[index].pages = max(files[index].pages, files[index].blocks.count)
        recount()
    }

    /// Records a file's count of failed pages (the server's WARNING
    /// `file … has a total of N checksum verification failures`).
    public mutating func recordFileTotal(path: String, tablespace: UInt32?, pages: Int) {
        let index = fileIndex(path: path, tablespace: tablespace)
        files[index].pages = max(files[index].pages, pages)
        recount()
    }

    /// Records the backup's total (the server's WARNING `N total checksum verification failures`).
    public mutating func recordTotal(_ total: Int) {
        self.total = max(self.total, total)
    }

    /// One line for operators: `8 pages in 1 file: base/5/16384 (8 pages: blocks 1, 3, 5, 6, 7, …)`.
    public var summary: String {
        let pages = "\(total) page\(total == 1 ? "" : "s")"
        guard !files.isEmpty else {
            return "\(pages) (the server's warnings naming the files could not be read; its log names them)"
        }
        let named = files.map { file in
            let more = file.pages > file.blocks.count ? ", …" : ""
            let blocks = file.blocks.isEmpty ? "" : ": block\(file.blocks.count == 1 ? "" : "s") \(file.blocks.map(String.init).joined(separator: ", "))\(more)"
            return "\(file.dataDirectoryPath) (\(file.pages) page\(file.pages == 1 ? "" : "s")\(blocks))"
        }
        return "\(pages) in \(files.count) file\(files.count == 1 ? "" : "s"): \(named.joined(separator: ", "))"
    }

    private mutating func fileIndex(path: String, tablespace: UInt32?) -> Int {
        if let index = files.firstIndex(where: { $0.path == path && $0.tablespace == tablespace }) { return index }
        files.append(File(path: path, tablespace: tablespace, pages: 0, blocks: []))
        return files.count - 1
    }

    private mutating func recount() {
        total = max(total, files.reduce(0) { $0 + $1.pages })
    }
}
