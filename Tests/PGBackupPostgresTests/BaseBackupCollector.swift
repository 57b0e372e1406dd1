import Foundation
import PGBackupFoundations
import PGBackupPostgres
#if canImport(Glibc)
import Glibc
#endif

/// A file of a base backup's archive, as `BaseBackupCollector` read it.
struct CollectedEntry: Sendable {
    var type: TarEntryType
    var size: UInt64
    var sha256: SHA256Digest
    var linkTarget: String
    /// The content, for the names the collector was asked to keep.
    var content: [UInt8]?
}

struct CollectedArchive: Sendable {
    var name: String
    var location: String?
    /// By tar entry name.
    var entries: [String: CollectedEntry] = [:]
    /// Whether the tar stream ended with its two zero blocks.
    var hadEndMarker = false
    var bytes: Int64 = 0
}

struct CollectedBackup: Sendable {
    var start: LSN
    var startTimeline: TimelineID
    var tablespaces: [BaseBackupTablespace]
    var archives: [CollectedArchive]
    var progress: [Int64]
    var manifest: [UInt8]
    var end: LSN
    var endTimeline: TimelineID
    /// What `.finished` said about pages whose checksum failed.
    var checksumFailures: PageChecksumFailures?
    /// The events in order, consecutive data events as one and progress left out:
    /// `started`, `tablespaces`, `archive <name>`, `data`, …, `manifest`, `manifestData`, `finished`.
    var shape: [String]

    var archiveBytes: Int64 { archives.reduce(0) { $0 + $1.bytes } }

    func archive(_ name: String) -> CollectedArchive? { archives.first { $0.name == name } }
}

/// Consumes a base backup's events the way the backup service will: tar streams parsed as they
/// arrive, every file's SHA-256 computed on the fly, nothing buffered but the kept files and
/// the manifest.
final class BaseBackupCollector {
    private let keep: Set<String>
    private var start: (LSN, TimelineID)?
    private var end: (LSN, TimelineID)?
    private var checksumFailures: PageChecksumFailures?
    private var tablespaces: [BaseBackupTablespace] = []
    private var archives: [CollectedArchive] = []
    private var progress: [Int64] = []
    private var manifest: [UInt8] = []
    private var shape: [String] = []
    private var reader: TarReader?
    private var entry: (name: String, header: TarHeader, hasher: SHA256Hasher, content: [UInt8]?)?

    /// - Parameter keep: tar entry names whose content to keep.
    init(keep: Set<String> = []) {
        self.keep = keep
    }

    var isFinished: Bool { end != nil }
    /// Archive data events seen so far.
    private(set) var dataEvents = 0

    func consume(_ event: BaseBackupEvent) throws {
        switch event {
        case let .started(lsn, timeline):
            start = (lsn, timeline)
            shape.append("started")
        case let .tablespaces(list):
            tablespaces = list
            shape.append("tablespaces")
        case let .archiveStarted(name, location):
            try finishArchive()
            archives.append(CollectedArchive(name: name, location: location))
            reader = TarReader()  // strict: an archive cut short fails
            shape.append("archive \(name)")
        case let .archiveData(bytes):
            dataEvents += 1
            if shape.last != "data" { shape.append("data") }
            archives[archives.count - 1].bytes += Int64(bytes.count)
            try reader?.feed(bytes) { try handle($0) }
        case let .progress(done):
            progress.append(done)
        case .manifestStarted:
            try finishArchive()
            shape.append("manifest")
        case let .manifestData(bytes):
            if shape.last != "manifestData" { shape.append("manifestData") }
            manifest.append(contentsOf: bytes)
        case let .finished(lsn, timeline, failures):
            try finishArchive()
            end = (lsn, timeline)
            checksumFailures = failures
            shape.append("finished")
        }
    }

    func result() throws -> CollectedBackup {
        guard let start, let end else { throw CollectorError(what: "the backup did not finish") }
        return CollectedBackup(
            start: start.0, startTimeline: start.1, tablespaces: tablespaces, archives: archives, progress: progress,
            manifest: manifest, end: end.0, endTimeline: end.1, checksumFailures: checksumFailures, shape: shape)
    }

    private func finishArchive() throws {
        guard var current = reader else { return }
        try current.finish { try handle($0) }
        reader = nil
    }

    private func handle(_ event: TarEvent) throws {
        switch event {
        case let .header(header):
            entry = (header.name, header, SHA256Hasher(), keep.contains(header.name) ? [] : nil)
        case let .data(bytes):
            entry?.hasher.update(bytes)
            entry?.content?.append(contentsOf: bytes)
        case .endOfEntry:
            guard let done = entry else { throw CollectorError(what: "end of a tar entry without its header") }
            archives[archives.count - 1].entries[done.name] = CollectedEntry(
                type: done.header.type, size: done.header.size, sha256: done.hasher.finalize(),
                linkTarget: done.header.linkTarget, content: done.content)
            entry = nil
        case .endOfArchive:
            archives[archives.count - 1].hadEndMarker = true
        }
    }
}

struct CollectorError: Error, CustomStringConvertible {
    var what: String
    var description: String { what }
}

/// Runs a whole base backup on a new replication connection and collects it.
func takeBaseBackup(conninfo: String, options: BaseBackupOptions, keep: Set<String> = []) throws -> CollectedBackup {
    let stream = BaseBackupStream(connection: try BaseBackupStream.openConnection(conninfo: conninfo))
    stream.stallTimeout = .seconds(30)
    try stream.start(options)
    let collector = BaseBackupCollector(keep: keep)
    while let event = try stream.next() { try collector.consume(event) }
    // Idle again: the connection takes commands.
    _ = try stream.connection.identifySystem()
    return try collector.result()
}

/// Reads the events of `stream` until `count` archive data events arrived.
func readArchiveData(_ stream: BaseBackupStream, into collector: BaseBackupCollector, events count: Int) throws {
    while collector.dataEvents < count {
        guard let event = try stream.next() else { throw CollectorError(what: "the backup ended before \(count) data events") }
        try collector.consume(event)
    }
}

/// Polls `condition` (blocking) every 100 ms until it holds, for at most `timeout`.
func poll(_ what: String, timeout: Duration = .seconds(10), _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw CollectorError(what: "timed out after \(timeout) waiting for \(what)") }
        usleep(100_000)
    }
}

/// The SHA-256 of a file on disk, read in 1 MiB pieces.
func sha256OfFile(_ path: String) throws -> SHA256Digest {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CollectorError(what: "cannot open \(path)") }
    defer { try? handle.close() }
    var hasher = SHA256Hasher()
    while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hasher.update(data) }
    return hasher.finalize()
}
