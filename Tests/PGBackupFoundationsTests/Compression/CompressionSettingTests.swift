import Foundation
import PGBackupFoundations
import Testing

@Suite("Compression setting")
struct CompressionSettingTests {
    @Test("parses the configuration syntax", arguments: [
        ("zstd", Compression.zstd(level: 1)),
        ("gzip", .gzip(level: 1)),
        ("none", .none),
        ("zstd:3", .zstd(level: 3)),
        ("zstd:19", .zstd(level: 19)),
        ("gzip:9", .gzip(level: 9)),
        ("gzip:1", .gzip(level: 1)),
        ("ZSTD:2", .zstd(level: 2)),
        (" zstd:4\n", .zstd(level: 4)),
    ])
    func parses(text: String, expected: Compression) throws {
        #expect(try Compression(parsing: text) == expected)
    }

    @Test("refuses what is not a setting", arguments: [
        "lz4", "", "zstd:", "zstd:x", "zstd:3:4", "zstd 3", "gzip:+3", "none:1", "zstd:--1", ":3", "zstd:٣",
    ])
    func refusesSyntax(text: String) {
        #expect(throws: CompressionError.invalidSpecification(text)) { try Compression(parsing: text) }
    }

    @Test("refuses levels out of range", arguments: [
        ("zstd:0", CompressionAlgorithm.zstd), ("zstd:20", .zstd), ("zstd:-1", .zstd), ("zstd:-5", .zstd),
        ("gzip:0", .gzip), ("gzip:10", .gzip), ("zstd:99999999999999999999999", .zstd),
    ])
    func refusesLevels(text: String, algorithm: CompressionAlgorithm) {
        #expect(throws: CompressionError.invalidLevel(text, algorithm: algorithm)) { try Compression(parsing: text) }
    }

    @Test func operatorMessages() {
        #expect(CompressionError.invalidSpecification("lz4").description
            == "invalid compression 'lz4': expected zstd, gzip or none, optionally with a level, e.g. zstd:3")
        #expect(CompressionError.invalidLevel("zstd:22", algorithm: .zstd).description
            == "invalid compression 'zstd:22': zstd levels are 1…19 (HINT: the default, zstd, means zstd:1, the fastest)")
        #expect(CompressionError.invalidLevel("gzip:0", algorithm: .gzip).description
            == "invalid compression 'gzip:0': gzip levels are 1…9 (HINT: the default, gzip, means gzip:1, the fastest)")
        #expect(CompressionError.truncated(.zstd).description.hasPrefix("compressed stream is truncated: the zstd data"))
        #expect(CompressionError.corrupt(.gzip, detail: "incorrect data check").description
            == "compressed stream is corrupt: not valid gzip data (incorrect data check)")
        #expect(CompressionError.unknownFileExtension("bz2").description
            == "unknown compression file extension 'bz2': expected zst, gz or raw")
    }

    @Test func defaultIsZstdLevelOne() throws {
        #expect(Compression.default == .zstd(level: 1))
        #expect(try Compression(parsing: "zstd") == .default)
    }

    @Test("prints with its level, and parses back", arguments: [
        (Compression.none, "none"), (.gzip(level: 6), "gzip:6"), (.zstd(level: 1), "zstd:1"),
    ])
    func description(compression: Compression, text: String) throws {
        #expect(compression.description == text)
        #expect(try Compression(parsing: text) == compression)
    }

    @Test func codableAsString() throws {
        let settings: [Compression] = [.none, .gzip(level: 9), .zstd(level: 3)]
        let json = try JSONEncoder().encode(settings)
        #expect(String(decoding: json, as: UTF8.self) == #"["none","gzip:9","zstd:3"]"#)
        #expect(try JSONDecoder().decode([Compression].self, from: json) == settings)
        #expect(try JSONDecoder().decode([Compression].self, from: Data(#"["zstd","gzip"]"#.utf8))
            == [.zstd(level: 1), .gzip(level: 1)])
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode([Compression].self, from: Data(#"["lz4"]"#.utf8))
        }
    }

    @Test("file extensions, both ways", arguments: [
        (CompressionAlgorithm.zstd, "zst"), (.gzip, "gz"), (.none, "raw"),
    ])
    func fileExtensions(algorithm: CompressionAlgorithm, fileExtension: String) throws {
        #expect(algorithm.fileExtension == fileExtension)
        #expect(try CompressionAlgorithm(fileExtension: fileExtension) == algorithm)
        #expect(try CompressionAlgorithm(fileExtension: "." + fileExtension) == algorithm)
    }

    @Test func settingExtensions() {
        #expect(Compression.zstd(level: 7).fileExtension == "zst")
        #expect(Compression.gzip(level: 2).fileExtension == "gz")
        #expect(Compression.none.fileExtension == "raw")
    }

    @Test("unknown extensions are refused", arguments: ["bz2", "ZST", "", "zstd", "tar"])
    func unknownExtension(fileExtension: String) {
        #expect(throws: CompressionError.unknownFileExtension(fileExtension)) {
            try CompressionAlgorithm(fileExtension: fileExtension)
        }
    }

    @Test func levelsBuiltInCodeAreValidated() throws {
        #expect(throws: CompressionError.invalidLevel("zstd:50", algorithm: .zstd)) { try Compression.zstd(level: 50).codec() }
        #expect(throws: CompressionError.invalidLevel("gzip:0", algorithm: .gzip)) { try Compression.gzip(level: 0).makeCompressor() }
        #expect(throws: CompressionError.self) { try ZstdCodec(level: 0) }
        #expect(throws: CompressionError.self) { try GzipCodec(level: 10) }
        #expect(try ZstdCodec(level: 19).compression == .zstd(level: 19))
        #expect(try GzipCodec().compression == .gzip(level: 1))
        #expect(IdentityCodec().compression == .none)
    }
}
