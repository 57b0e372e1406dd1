@testable import PGBackupFoundations
import Testing

/// Setup failures cannot be reached through the public API (levels are validated first), but the
/// C state must still be released exactly once when they happen.
@Suite("Codec setup failures")
struct CodecSetupFailureTests {
    @Test func zlibRefusingALevelIsAnErrorNotACrash() {
        for _ in 0..<3 {
            let error = #expect(throws: CompressionError.self) { try GzipCompressor(level: 42) }
            #expect(error == .libraryFailure(.gzip, detail: "inconsistent stream state"))
        }
    }
}
