import PGBackupTestSupport
/// Reproducible pseudo-random numbers (SplitMix64): every run tests the same bytes, so a failure
/// can be replayed.

enum TestBytes {
    /// Incompressible: `count` pseudo-random bytes, made a word at a time.
    static func random(count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var words = [UInt64](repeating: 0, count: (count + 7) / 8)
        for index in words.indices { words[index] = generator.next() }
        return words.withUnsafeBytes { Array($0.prefix(count)) }
    }

    /// Highly compressible, shaped like PostgreSQL data: 8 KiB pages, mostly zero, each with a
    /// page header and a run of text-like tuples drawn from a small vocabulary.
    static func compressible(count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        let words = ["alpha ", "beta ", "gamma ", "delta ", "2026-11-22 ", "INSERT ", "pgbench ", "0/16B374D8 "]
            .map { Array($0.utf8) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8192)
        while bytes.count < count {
            var page = [UInt8](repeating: 0, count: 8192)
            withUnsafeBytes(of: UInt64(bytes.count / 8192).bigEndian) { page.replaceSubrange(0..<8, with: $0) }
            var offset = 24
            let tuples = Int(generator.next() % 120)
            for _ in 0..<tuples {
                let word = words[Int(generator.next() % UInt64(words.count))]
                page.replaceSubrange(offset..<offset + word.count, with: word)
                offset += word.count
            }
            bytes += page
        }
        return Array(bytes.prefix(count))
    }

    /// Splits `bytes` into chunks of random sizes from 1 byte to 1 MiB, spread evenly over the
    /// powers of two so that tiny chunks occur as often as large ones.
    static func randomChunks(of count: Int, seed: UInt64) -> [Range<Int>] {
        var generator = SeededGenerator(seed: seed)
        var ranges: [Range<Int>] = []
        var start = 0
        while start < count {
            let power = Int(generator.next() % 21)
            let size = (1 << power) + Int(generator.next() % UInt64(1 << power))
            let end = min(count, start + min(size, 1 << 20))
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }
}
