import Foundation
import PGBackupFoundations
import PGBackupRepository

/// Content cut out of the backup stream, to be stored in the chunk store: a chunk of a big file
/// or a pack of small files. Files refer to it by `id` until it is stored.
struct ChunkJob: Sendable {
    let id: Int
    let bytes: [UInt8]
}

/// Where a `ArchiveSplitter` sends its chunks. `reserve` gives the empty buffer (of at least
/// `capacity` bytes) a chunk or pack is filled into and may block (that is the backpressure
/// that bounds memory); `submit` hands the full buffer over. Called from the splitter's thread
/// only.
protocol ChunkSink {
    func reserve(capacity: Int) throws -> [UInt8]
    func submit(_ job: ChunkJob) throws
}

/// A file of the backup as the splitter records it: its chunks are named by job ids until
/// they are stored (`BackupManifest.File` once resolved).
struct SplitFile: Sendable {
    struct PendingChunk: Sendable {
        var offset: Int64
        var size: Int64
        var job: Int
    }

    var path: String
    var tablespace: UInt32?
    var type: BackupManifest.FileType
    var mode: UInt32
    var mtime: Date
    var size: Int64
    var linkTarget: String?
    var chunks: [PendingChunk] = []
    /// The pack's job and the file's offset inside it.
    var packed: (job: Int, offset: Int64)?
    /// Whole-content SHA-256, for packed files (a chunked file's chunks carry theirs).
    var sha256: SHA256Digest?
}

/// Turns the tar archives of a `BASE_BACKUP` into files and chunk jobs, as the bytes arrive
/// (`ChunkingPlan`'s rules applied to a stream): big files are cut at fixed offsets into chunks
/// of `policy.chunkSize`, small files are packed (`PackPlanner`), empty files, directories and
/// symbolic links only get their entry.
///
/// Runs on the thread that reads the backup stream; not Sendable. Holds at most one chunk buffer
/// and one open pack; everything else is the sink's.
final class ArchiveSplitter {
    let policy: ChunkingPolicy
    private let sink: any ChunkSink
    private(set) var files: [SplitFile] = []
    /// Bytes of file content seen.
    private(set) var contentBytes: Int64 = 0
    /// The content of the data directory's `backup_label` (the server's START TIME is in it).
    private(set) var backupLabel: [UInt8]?
    private var capturingLabel: [UInt8]?

    private var tar = TarReader()
    private var tablespace: UInt32?
    private var nextJobID = 0
    private var planner: PackPlanner
    private var pack: (number: Int, job: Int, bytes: [UInt8])?

    /// The regular file whose content is arriving.
    private var entry: Int?
    private var entryOffset: Int64 = 0
    private var chunk: (offset: Int64, size: Int64, bytes: [UInt8])?
    private var packedHasher: SHA256Hasher?

    init(policy: ChunkingPolicy, sink: any ChunkSink) {
        self.policy = policy
        self.sink = sink
        self.planner = PackPlanner(policy: policy)
    }

    /// A new archive begins, named as `BASE_BACKUP` names it (`tablespace(ofArchive:)`); its
    /// tablespace must be one of `tablespaces` (the server's list).
    func beginArchive(named name: String, tablespaces: Set<UInt32>) throws {
        let tablespace = try Self.tablespace(ofArchive: name)
        if let tablespace, !tablespaces.contains(tablespace) {
            throw BackupError.unexpectedArchive(
                name: name, reason: "the server listed no tablespace \(tablespace) (it listed \(tablespaces.isEmpty ? "none" : tablespaces.sorted().map(String.init).joined(separator: ", ")))")
        }
        beginArchive(tablespace: tablespace)
    }

    private func beginArchive(tablespace: UInt32?) {
        tar = TarReader()
        self.tablespace = tablespace
    }

    /// The tablespace an archive holds by its name: `base.tar` the main data directory (nil),
    /// `<oid>.tar` tablespace `oid` (decimal, 1 or more). Anything else is
    /// `BackupError.unexpectedArchive`, never files dropped into the data directory.
    static func tablespace(ofArchive name: String) throws -> UInt32? {
        if name == "base.tar" { return nil }
        guard name.hasSuffix(".tar") else {
            throw BackupError.unexpectedArchive(name: name, reason: "not a tar archive (base.tar or <tablespace oid>.tar)")
        }
        let digits = name.dropLast(".tar".count)
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let oid = UInt32(digits), oid > 0
        else {
            throw BackupError.unexpectedArchive(name: name, reason: "'\(digits)' is not a tablespace OID")
        }
        return oid
    }

    /// The next bytes of the current archive.
    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        try tar.feed(bytes) { event in try self.handle(event) }
    }

    /// Ends the current archive; it must have been a complete tar stream.
    func endArchive() throws {
        try tar.finish { event in try self.handle(event) }
    }

    /// Submits the open pack: call once, after the last archive.
    func finish() throws {
        if let pack {
            try sink.submit(ChunkJob(id: pack.job, bytes: pack.bytes))
            self.pack = nil
        }
    }

    private func handle(_ event: TarEvent) throws {
        switch event {
        case .header(let header):
            try begin(header)
        case .data(let bytes):
            try content(bytes)
        case .endOfEntry:
            try endEntry()
        case .endOfArchive:
            break
        }
    }

    private func begin(_ header: TarHeader) throws {
        var path = header.name
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasPrefix("./") { path.removeFirst(2) }
        let type: BackupManifest.FileType
        switch header.type {
        case .file: type = .file
        case .directory: type = .directory
        case .symlink: type = .symlink
        default:
            throw BackupError.unexpectedArchiveEntry(path: path, type: "\(header.type)")
        }
        let size = type == .file ? Int64(header.size) : 0
        var file = SplitFile(
            path: path, tablespace: tablespace, type: type, mode: header.mode & 0o7777,
            mtime: Date(timeIntervalSince1970: TimeInterval(header.modificationTime)), size: size,
            linkTarget: type == .symlink ? header.linkTarget : nil)
        if type == .file && policy.isPacked(size: size) {
            let slot = planner.place(size: size)
            if pack?.number != slot.pack {
                if let pack { try sink.submit(ChunkJob(id: pack.job, bytes: pack.bytes)) }
                pack = (slot.pack, allocateJobID(), try sink.reserve(capacity: bufferCapacity))
            }
            file.packed = (pack!.job, slot.offset)
            packedHasher = SHA256Hasher()
        }
        files.append(file)
        contentBytes += size
        capturingLabel = tablespace == nil && path == "backup_label" && type == .file && size <= 1 << 16 ? [] : nil
        entry = files.count - 1
        entryOffset = 0
    }

    private func content(_ bytes: UnsafeRawBufferPointer) throws {
        guard let entry else { return }
        capturingLabel?.append(contentsOf: bytes)
        if packedHasher != nil {
            pack!.bytes.append(contentsOf: bytes)
            packedHasher!.update(bytes)
            entryOffset += Int64(bytes.count)
            return
        }
        var rest = bytes
        while !rest.isEmpty {
            if chunk == nil {
                let size = min(Int64(policy.chunkSize), files[entry].size - entryOffset)
                chunk = (entryOffset, size, try sink.reserve(capacity: bufferCapacity))
            }
            let room = Int(chunk!.size) - chunk!.bytes.count
            let take = min(room, rest.count)
            chunk!.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<take]))
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            entryOffset += Int64(take)
            if chunk!.bytes.count == Int(chunk!.size) { try submitChunk() }
        }
    }

    private func submitChunk() throws {
        guard let entry, let full = chunk else { return }
        let id = allocateJobID()
        files[entry].chunks.append(SplitFile.PendingChunk(offset: full.offset, size: full.size, job: id))
        chunk = nil
        try sink.submit(ChunkJob(id: id, bytes: full.bytes))
    }

    private func endEntry() throws {
        guard let entry else { return }
        if let hasher = packedHasher {
            files[entry].sha256 = hasher.finalize()
            packedHasher = nil
        }
        if chunk != nil { try submitChunk() }
        if let label = capturingLabel {
            backupLabel = label
            capturingLabel = nil
        }
        guard entryOffset == files[entry].size else {
            throw BackupError.unexpectedArchiveEntry(path: files[entry].path, type: "file whose content (\(entryOffset) bytes) differs from its header's size (\(files[entry].size))")
        }
        self.entry = nil
    }

    /// Chunks and packs share their buffers (recycled by the sink): each fits either.
    private var bufferCapacity: Int { max(policy.chunkSize, policy.packSize) }

    private func allocateJobID() -> Int {
        defer { nextJobID += 1 }
        return nextJobID
    }
}
