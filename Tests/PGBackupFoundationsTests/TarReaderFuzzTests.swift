import PGBackupTestSupport
import PGBackupFoundations
import PropertyBased
import Testing

@Suite struct TarReaderFuzzTests {
    /// Corrupted archives must be refused with a `TarError` (or read, if the damage is in data),
    /// never crash the reader.
    @Test func corruptedArchivesNeverCrash() async throws {
        let archive = try writeTar(TarReaderTests.entries + [
            TarTestEntry(header: TarHeader(name: String(repeating: "p", count: 300), size: 700), data: Array(repeating: 9, count: 700)),
        ], format: .pax) + writeTar([
            TarTestEntry(header: TarHeader(name: String(repeating: "g", count: 300), type: .symlink, linkTarget: String(repeating: "t", count: 200)), data: []),
        ], format: .gnu)
        await propertyCheck(count: 300, input: Gen.uint64()) { (seed: UInt64) in
            var rng = SeededGenerator(seed: seed)
            var damaged = archive
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { damaged = Array(damaged.prefix(Int.random(in: 0...damaged.count, using: &rng))) }
            do {
                _ = try readTar(damaged, chunkSizes: { rng.chunkSize() }, allowMissingEndMarker: Bool.random(using: &rng))
            } catch is TarError {
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }
}
