import PGBackupTestSupport
import Foundation
import PGBackupFoundations

/// A tar entry as the tests compare it: its header and all of its data.
struct TarTestEntry: Equatable, CustomStringConvertible {
    var header: TarHeader
    var data: [UInt8]

    var description: String { "\(header.type) \(header.name) (\(data.count) bytes)" }
}

/// SplitMix64: a small, seedable generator so failures reproduce from the seed.
extension SeededGenerator {
    /// Chunk sizes from 1 byte to 100 KiB, mostly small so that headers get split everywhere.
    mutating func chunkSize() -> Int {
        switch Int.random(in: 0..<4, using: &self) {
        case 0: return Int.random(in: 1...16, using: &self)
        case 1: return Int.random(in: 1...1024, using: &self)
        case 2: return Int.random(in: 500...5000, using: &self)
        default: return Int.random(in: 1...100 << 10, using: &self)
        }
    }
}

enum TarTestError: Error { case badEventOrder(String) }

/// Feeds `bytes` to a `TarReader` in chunks of the given sizes and collects the entries, checking
/// that events come in order.
func readTar(
    _ bytes: [UInt8], chunkSizes: () -> Int = { 512 }, allowMissingEndMarker: Bool = false
) throws -> [TarTestEntry] {
    var reader = TarReader(allowMissingEndMarker: allowMissingEndMarker)
    var entries: [TarTestEntry] = []
    var open = false
    var ended = false
    let handle: (TarEvent) throws -> Void = { event in
        guard !ended else { throw TarTestError.badEventOrder("event after endOfArchive") }
        switch event {
        case .header(let header):
            guard !open else { throw TarTestError.badEventOrder("header inside an entry") }
            entries.append(TarTestEntry(header: header, data: []))
            open = true
        case .data(let buffer):
            guard open, !buffer.isEmpty else { throw TarTestError.badEventOrder("data outside an entry, or empty") }
            entries[entries.count - 1].data.append(contentsOf: buffer)
        case .endOfEntry:
            guard open else { throw TarTestError.badEventOrder("endOfEntry outside an entry") }
            guard UInt64(entries[entries.count - 1].data.count) == entries[entries.count - 1].header.size else {
                throw TarTestError.badEventOrder("entry data does not match its size")
            }
            open = false
        case .endOfArchive:
            guard !open else { throw TarTestError.badEventOrder("endOfArchive inside an entry") }
            ended = true
        }
    }
    try bytes.withUnsafeBytes { all in
        var index = 0
        while index < all.count {
            let count = min(chunkSizes(), all.count - index)
            try reader.feed(UnsafeRawBufferPointer(rebasing: all[index..<(index + count)]), handle)
            index += count
        }
    }
    try reader.finish(handle)
    guard ended else { throw TarTestError.badEventOrder("no endOfArchive") }
    return entries
}

/// Writes the entries with a `TarWriter` and returns the archive.
func writeTar(_ entries: [TarTestEntry], format: TarWriter.Format, endMarker: Bool = true) throws -> [UInt8] {
    var writer = TarWriter(format: format)
    var out: [UInt8] = []
    let output: TarWriter.Output = { out.append(contentsOf: $0) }
    for entry in entries { try writer.writeEntry(entry.header, data: entry.data, to: output) }
    if endMarker { try writer.finish(to: output) }
    return out
}

/// Runs a command and returns its standard output; throws when it fails.
@discardableResult
func run(_ arguments: [String], in directory: URL) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.currentDirectoryURL = directory
    let pipe = Pipe()
    let errors = Pipe()
    process.standardOutput = pipe
    process.standardError = errors
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    let errorOutput = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CommandFailure(command: arguments.joined(separator: " "), status: process.terminationStatus,
                             stderr: String(decoding: errorOutput, as: UTF8.self))
    }
    return String(decoding: output, as: UTF8.self)
}

struct CommandFailure: Error, CustomStringConvertible {
    var command: String
    var status: Int32
    var stderr: String
    var description: String { "'\(command)' exited with \(status): \(stderr)" }
}

/// A fresh temporary directory, removed by `body`'s end.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pgbackup-tar-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}
