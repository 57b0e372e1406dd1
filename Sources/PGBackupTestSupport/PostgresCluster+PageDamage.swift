import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension PostgresCluster {
    /// PostgreSQL's page size (`BLCKSZ`), which the harness never changes.
    public static let pageSize = 8192

    /// Damages pages `blocks` of `table`'s main fork on disk, the way a failing disk would: the
    /// server checkpoints and stops, 16 bytes in the middle of each page (past the page header,
    /// in the tuple data the checksum covers) are inverted, and the server starts again. The
    /// checksum stored in each page's header no longer matches its content, which a read of the
    /// page (`invalid page in block N`) and `BASE_BACKUP` (a WARNING per page) report.
    ///
    /// Returns the file's path relative to the data directory (`pg_relation_filepath`).
    /// The table must have at least `blocks.max() + 1` pages.
    @discardableResult
    public func damagePages(of table: String, blocks: [Int], database: String = "postgres") async throws -> String {
        let relative = try await sql("SELECT pg_relation_filepath('\(table)')", database: database)
        let pages = try await sql("SELECT pg_relation_size('\(table)') / \(Self.pageSize)", database: database)
        guard !relative.isEmpty, let pageCount = Int(pages), blocks.allSatisfy({ (0..<pageCount).contains($0) }) else {
            throw PostgresClusterError.setupFailed(
                step: "damage blocks \(blocks) of table \(table)", reason: "it has \(pages) pages in '\(relative)'", logTail: nil)
        }
        try await sql("CHECKPOINT", database: database)
        try await stop()
        let path = dataDirectory + "/" + relative
        guard let handle = FileHandle(forUpdatingAtPath: path) else {
            throw PostgresClusterError.setupFailed(step: "open \(path) to damage it", reason: String(cString: strerror(errno)), logTail: nil)
        }
        do {
            for block in blocks {
                let offset = UInt64(block * Self.pageSize + Self.pageSize / 2)
                try handle.seek(toOffset: offset)
                let original = try handle.read(upToCount: 16) ?? Data()
                try handle.seek(toOffset: offset)
                try handle.write(contentsOf: Data(original.map { ~$0 }))
            }
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            throw PostgresClusterError.setupFailed(step: "damage \(path)", reason: "\(error)", logTail: nil)
        }
        try await startServer()
        return relative
    }
}
