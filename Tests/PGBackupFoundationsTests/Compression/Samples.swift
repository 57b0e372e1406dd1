import PGBackupFoundations
import Testing

/// The inputs every codec must round-trip.
enum Sample: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case empty
    case oneByte
    case random5MiB
    case compressible4MiB
    case zeros1MiB

    var bytes: [UInt8] {
        switch self {
        case .empty: []
        case .oneByte: [0x2A]
        case .random5MiB: Self.random
        case .compressible4MiB: Self.compressible
        case .zeros1MiB: Self.zeros
        }
    }

    var isHighlyCompressible: Bool { self == .compressible4MiB || self == .zeros1MiB }

    var testDescription: String { rawValue }

    private static let random = TestBytes.random(count: 5 << 20, seed: 0x5EED_0001)
    private static let compressible = TestBytes.compressible(count: 4 << 20, seed: 0x5EED_0002)
    private static let zeros = [UInt8](repeating: 0, count: 1 << 20)
}

extension CodecStream {
    /// Feeds `input` in chunks of random sizes (1 byte … 1 MiB), then finishes; returns all output.
    func run(_ input: [UInt8], chunkSeed: UInt64) throws -> [UInt8] {
        var output: [UInt8] = []
        let append: (UnsafeRawBufferPointer) -> Void = { output.append(contentsOf: $0) }
        try input.withUnsafeBytes { all in
            for range in TestBytes.randomChunks(of: all.count, seed: chunkSeed) {
                try update(UnsafeRawBufferPointer(rebasing: all[range]), into: append)
            }
        }
        try finish(into: append)
        return output
    }
}

/// Compares without dumping megabytes into the test log on failure.
func expectSameBytes(
    _ actual: [UInt8], _ expected: [UInt8], _ what: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    guard actual != expected else { return }
    let firstDifference = actual.indices.first { $0 >= expected.count || actual[$0] != expected[$0] } ?? actual.count
    Issue.record(
        "\(what): \(actual.count) bytes, expected \(expected.count); first difference at offset \(firstDifference)",
        sourceLocation: sourceLocation)
}

extension Compression {
    /// The real tool's command that decompresses this format to standard output.
    var toolDecompressCommand: [String] {
        switch algorithm {
        case .none: ["cat"]
        case .gzip: ["gzip", "-d", "-c"]
        case .zstd: ["zstd", "-d", "-c", "-q"]
        }
    }
}
