import PGBackupFoundations
import PGBackupRepository

/// What writing a backup into directories takes, worked out from the manifest alone before
/// anything is touched: where each entry goes, and the content grouped by chunk, so that a
/// chunk or pack shared by several files (identical content is stored once) is fetched once and
/// written to every place it belongs. Pure: it checks the manifest and the directory mapping and
/// refuses (`RestoreError`) what cannot be written safely.
///
/// Memory: one `Entry` per manifest entry and one `Target` per chunk reference, about what the
/// manifest itself takes.
struct RestorePlan: Sendable {
    struct Entry: Sendable {
        /// Index in `manifest.files`.
        var index: Int
        var type: BackupManifest.FileType
        /// Relative to its root; "" for a root itself.
        var relativePath: String
        /// The absolute destination.
        var path: String
        /// Data-directory relative, tablespace files as `pg_tblspc/<oid>/…`: for messages.
        var display: String
        /// Which root it lives under: nil for the data directory, else the tablespace's OID.
        var tablespace: UInt32?
        var mode: UInt32
        var mtimeSeconds: Int
        var mtimeNanoseconds: Int
        var size: Int64
        var linkTarget: String?
    }

    /// Bytes `sourceOffset ..< sourceOffset + length` of a chunk go to the file `entry` at `fileOffset`.
    struct Target: Sendable {
        var entry: Int
        var fileOffset: Int64
        var sourceOffset: Int64
        var length: Int64
        /// A packed file's own SHA-256, checked on its slice of the pack; nil for a chunk (the
        /// chunk's own digest covers it).
        var sha256: SHA256Digest?
    }

    /// One object of the chunk store and everything that needs its content.
    struct Piece: Sendable {
        var sha256: SHA256Digest
        var size: Int64
        var targets: [Target]
    }

    let dataDirectory: String
    let tablespaceDirectories: [UInt32: String]
    let entries: [Entry]
    /// Entry indices: directories parents first; regular files; symbolic links.
    let directories: [Int]
    let files: [Int]
    let symlinks: [Int]
    /// The content to fetch, in manifest order of first use (files written roughly in order).
    let pieces: [Piece]
    /// `global/pg_control`, written last on its own, and its content's piece (not in `pieces`).
    let controlFile: Int
    let controlPiece: Piece
    /// `tablespace_map` when it is regenerated for the mapped directories (not in `pieces`);
    /// nil when the backup has no tablespace (then it is restored as backed up, if present).
    let tablespaceMapEntry: Int?
    let regeneratesTablespaceMap: Bool
    /// Sum of the regular files' sizes.
    let bytesTotal: Int64

    static let controlFilePath = "global/pg_control"
    static let tablespaceMapPath = "tablespace_map"
    static let autoConfPath = "postgresql.auto.conf"
    /// What the restore writes into the data directory after the backup's files (recovery
    /// settings): none may be a link of the backup.
    static let writtenAfterwards: Set<String> = [autoConfPath, "recovery.signal", "standby.signal"]

    init(_ manifest: BackupManifest, dataDirectory: String, tablespaceDirectories: [UInt32: String]) throws {
        let dataDirectory = Self.normalized(dataDirectory)
        let mapping = tablespaceDirectories.mapValues(Self.normalized)
        try Self.checkRoots(manifest, dataDirectory: dataDirectory, mapping: mapping)
        self.dataDirectory = dataDirectory
        self.tablespaceDirectories = mapping
        let regeneratesTablespaceMap = !manifest.tablespaces.isEmpty
        self.regeneratesTablespaceMap = regeneratesTablespaceMap

        var entries: [Entry] = []
        var seen: Set<String> = []
        var directories: [Int] = []
        var files: [Int] = []
        var symlinks: [Int] = []
        var pieces: [Piece] = []
        var pieceIndex: [SHA256Digest: Int] = [:]
        var control: (entry: Int, piece: Piece)?
        var tablespaceMapEntry: Int?
        var bytesTotal: Int64 = 0
        let mappedLinks = Set(manifest.tablespaces.map { "pg_tblspc/\($0.oid)" })

        for (index, file) in manifest.files.enumerated() {
            let display = file.tablespace.map { "pg_tblspc/\($0)/\(file.path)" } ?? file.path
            let relative = try Self.checkedRelativePath(file.path, display: display)
            if relative.isEmpty && file.type == .directory { continue }  // a root: made and moded apart
            guard !relative.isEmpty else { throw RestoreError.invalidManifest(path: display, reason: "a \(file.type) at the root of its directory") }
            // The links to tablespaces are made for the mapped directories, not as backed up.
            if file.tablespace == nil && mappedLinks.contains(relative) { continue }
            let root = file.tablespace.flatMap { mapping[$0] } ?? dataDirectory  // checkRoots: every one is mapped
            guard seen.insert(display).inserted else { throw RestoreError.invalidManifest(path: display, reason: "listed twice") }
            let seconds = file.mtime.timeIntervalSince1970.rounded(.down)
            let entry = Entry(
                index: index, type: file.type, relativePath: relative, path: root + "/" + relative, display: display,
                tablespace: file.tablespace, mode: file.mode & 0o7777, mtimeSeconds: Int(seconds),
                mtimeNanoseconds: Int(((file.mtime.timeIntervalSince1970 - seconds) * 1e9).rounded(.down)),
                size: file.type == .file ? file.size : 0, linkTarget: file.linkTarget)
            let entryIndex = entries.count
            entries.append(entry)
            switch file.type {
            case .directory:
                directories.append(entryIndex)
                continue
            case .symlink:
                guard let target = file.linkTarget, !target.isEmpty else {
                    throw RestoreError.invalidManifest(path: display, reason: "a symbolic link without a target")
                }
                if file.tablespace == nil && Self.writtenAfterwards.contains(relative) {
                    throw RestoreError.invalidManifest(
                        path: display, reason: "a symbolic link where the restore writes the recovery settings, and a restore never writes through a link")
                }
                symlinks.append(entryIndex)
                continue
            case .file:
                files.append(entryIndex)
            }
            guard file.size >= 0 else { throw RestoreError.invalidManifest(path: display, reason: "negative size \(file.size)") }
            bytesTotal += file.size

            let content = try Self.content(of: file, entry: entryIndex, display: display)
            if file.tablespace == nil && relative == Self.controlFilePath, content.count == 1 {
                control = (entryIndex, Piece(sha256: content[0].sha256, size: content[0].size, targets: [content[0].target]))
                continue
            }
            if file.tablespace == nil && relative == Self.tablespaceMapPath && regeneratesTablespaceMap {
                tablespaceMapEntry = entryIndex
                continue
            }
            for part in content {
                try Self.add(part.target, sha256: part.sha256, size: part.size, display: display, to: &pieces, index: &pieceIndex)
            }
        }
        try Self.checkNothingBeneathLinks(entries, symlinks: symlinks, mappedLinks: mappedLinks)
        guard let control, entries[control.entry].size > 0 else {
            throw RestoreError.invalidManifest(path: Self.controlFilePath, reason: "the backup has no (or an empty) global/pg_control")
        }
        // Parents before children, whatever order the manifest lists them in.
        let depth = directories.map { entries[$0].relativePath.split(separator: "/").count }
        directories = zip(directories, depth).sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
        self.entries = entries
        self.directories = directories
        self.files = files
        self.symlinks = symlinks
        self.pieces = pieces
        self.controlFile = control.entry
        self.controlPiece = control.piece
        self.tablespaceMapEntry = tablespaceMapEntry
        self.bytesTotal = bytesTotal
    }

    /// The absolute root of an entry's tree.
    func root(of tablespace: UInt32?) -> String {
        tablespace.flatMap { tablespaceDirectories[$0] } ?? dataDirectory
    }

    /// Every root: the data directory, then the tablespaces' directories by OID.
    var roots: [(tablespace: UInt32?, path: String)] {
        [(nil, dataDirectory)] + tablespaceDirectories.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    // MARK: checks

    /// The objects holding a file's content and where each goes (none for an empty file).
    /// Checks that the content covers the file exactly.
    private static func content(
        of file: BackupManifest.File, entry: Int, display: String
    ) throws -> [(sha256: SHA256Digest, size: Int64, target: Target)] {
        if let chunks = file.chunks, !chunks.isEmpty {
            guard file.packed == nil else { throw RestoreError.invalidManifest(path: display, reason: "both chunked and packed") }
            var next: Int64 = 0
            for chunk in chunks {
                guard chunk.offset == next, chunk.size > 0, chunk.size <= Int64(ChunkStore.maximumChunkSize) else {
                    throw RestoreError.invalidManifest(
                        path: display, reason: "chunk at offset \(chunk.offset) (\(chunk.size) bytes) does not follow the one before (ending at \(next))")
                }
                next += chunk.size
            }
            guard next == file.size else {
                throw RestoreError.invalidManifest(path: display, reason: "its chunks hold \(next) bytes, the file \(file.size)")
            }
            return chunks.map {
                ($0.sha256, $0.size, Target(entry: entry, fileOffset: $0.offset, sourceOffset: 0, length: $0.size, sha256: nil))
            }
        }
        if let packed = file.packed {
            guard let sha256 = file.sha256 else { throw RestoreError.invalidManifest(path: display, reason: "a packed file without its SHA-256") }
            guard packed.offset >= 0, packed.offset + file.size <= packed.packSize, packed.packSize <= Int64(ChunkStore.maximumChunkSize) else {
                throw RestoreError.invalidManifest(
                    path: display, reason: "bytes \(packed.offset)..<\(packed.offset + file.size) lie outside its pack of \(packed.packSize) bytes")
            }
            return [(packed.pack, packed.packSize, Target(entry: entry, fileOffset: 0, sourceOffset: packed.offset, length: file.size, sha256: sha256))]
        }
        guard file.size == 0 else { throw RestoreError.invalidManifest(path: display, reason: "\(file.size) bytes but neither chunks nor a pack") }
        return []
    }

    private static func add(
        _ target: Target, sha256: SHA256Digest, size: Int64, display: String, to pieces: inout [Piece], index: inout [SHA256Digest: Int]
    ) throws {
        if let existing = index[sha256] {
            guard pieces[existing].size == size else {
                throw RestoreError.invalidManifest(path: display, reason: "object \(sha256) listed with \(size) bytes and with \(pieces[existing].size)")
            }
            pieces[existing].targets.append(target)
        } else {
            index[sha256] = pieces.count
            pieces.append(Piece(sha256: sha256, size: size, targets: [target]))
        }
    }

    /// The path without `./` and trailing slashes; refuses absolute paths and `..`, so nothing
    /// is ever written outside its root.
    private static func checkedRelativePath(_ path: String, display: String) throws -> String {
        var components: [Substring] = []
        guard !path.hasPrefix("/") else { throw RestoreError.invalidManifest(path: display, reason: "an absolute path") }
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            guard component != ".." else { throw RestoreError.invalidManifest(path: display, reason: "a path through '..'") }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    /// No entry lies beneath a symbolic link of its root (one the backup holds, or a
    /// `pg_tblspc/<oid>` link the restore makes): writing it would go through the link, out of
    /// the directories restored into.
    private static func checkNothingBeneathLinks(_ entries: [Entry], symlinks: [Int], mappedLinks: Set<String>) throws {
        var links: [UInt32?: Set<String>] = [nil: mappedLinks]
        for index in symlinks { links[entries[index].tablespace, default: []].insert(entries[index].relativePath) }
        for entry in entries {
            guard let rootLinks = links[entry.tablespace] else { continue }
            var ancestor = Substring(entry.relativePath)
            while let slash = ancestor.lastIndex(of: "/") {
                ancestor = ancestor[..<slash]
                if rootLinks.contains(String(ancestor)) {
                    let link = entry.tablespace.map { "pg_tblspc/\($0)/\(ancestor)" } ?? String(ancestor)
                    throw RestoreError.invalidManifest(
                        path: entry.display, reason: "it lies beneath the symbolic link '\(link)', and a restore never writes through a link")
                }
            }
        }
    }

    /// Every tablespace mapped, to an absolute directory that neither holds nor lies in the data
    /// directory or another tablespace's (a delta restore clears each root of what the backup
    /// does not have: nested roots would clear each other).
    private static func checkRoots(_ manifest: BackupManifest, dataDirectory: String, mapping: [UInt32: String]) throws {
        let needed = Set(manifest.tablespaces.map(\.oid)).union(manifest.files.compactMap(\.tablespace))
        for oid in needed.sorted() where mapping[oid] == nil {
            throw RestoreError.tablespaceNotMapped(oid: oid, location: manifest.tablespaces.first { $0.oid == oid }?.location ?? "unknown")
        }
        guard dataDirectory.hasPrefix("/") else {
            throw RestoreError.invalidDataDirectory(path: dataDirectory, reason: "not an absolute path")
        }
        let roots = [(UInt32?.none, dataDirectory)] + mapping.filter { needed.contains($0.key) }.sorted { $0.key < $1.key }.map { (Optional($0.key), $0.value) }
        for (oid, path) in roots.dropFirst() {
            guard path.hasPrefix("/") else {
                throw RestoreError.invalidTablespaceDirectory(oid: oid!, path: path, reason: "not an absolute path")
            }
            for (other, otherPath) in roots where other != oid {
                if path == otherPath || path.hasPrefix(otherPath + "/") || otherPath.hasPrefix(path + "/") {
                    let what = other.map { "tablespace \($0)'s directory '\(otherPath)'" } ?? "the data directory '\(otherPath)'"
                    throw RestoreError.invalidTablespaceDirectory(oid: oid!, path: path, reason: "it overlaps \(what)")
                }
            }
        }
    }

    /// Without trailing slashes (but `/` stays `/`).
    static func normalized(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }
}
