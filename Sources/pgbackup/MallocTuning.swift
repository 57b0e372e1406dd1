#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc, set once at startup.
enum MallocTuning {
    /// At most 2 arenas: by default glibc gives each thread that allocates an arena of its own
    /// (up to 8 per core), and each keeps the large blocks its thread freed (zstd contexts, a
    /// piece's compressed output) for itself; the blocking-I/O threads are many. Measured on a
    /// full backup (scale 50, jobs 2): anonymous memory at the peak 20–25 → 20–22 MiB, the
    /// daemon's 30 → 27 MiB, stream no slower (1.94 s against 1.97 s, medians of 3). A fixed
    /// mmap threshold of 1 MiB saved 2 MiB more but cost 5% of the stream (a mapping per piece).
    static func apply() {
        #if canImport(Glibc)
        // <malloc.h> is not part of the Glibc module: mallopt is looked up (it is libc's), and
        // M_ARENA_MAX is its value there.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        let arenaMax: Int32 = -8
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        _ = unsafeBitCast(symbol, to: Mallopt.self)(arenaMax, 2)
        #endif
    }
}
