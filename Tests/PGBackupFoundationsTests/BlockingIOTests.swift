import Dispatch
import Foundation
import PGBackupFoundations
import Synchronization
import Testing

/// `BlockingIO`'s two entry points. What `runLong` is for (a call blocked for long holds no
/// thread of the width-limited queue Swift's global executor uses on Linux) is a matter of
/// time, and tests here time nothing: `bench/compare`'s phases measure it (a backup's `stream`
/// 1.96 → 0.96 s at scale 50, beside the old build in one run), and `bench/daemon` its effect on
/// `/metrics` (max 688 ms → 10 ms). These tests pin what must hold whatever the machine's load.
@Suite("BlockingIO")
struct BlockingIOTests {
    /// 16 long calls that can only finish together (each waits until all have started) all run
    /// and return: no long call waits for another to end.
    @Test func longCallsThatCanOnlyFinishTogetherAllRun() async throws {
        let count = 16
        let started = Counter()
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await BlockingIO.runLong {
                        started.increment()
                        let deadline = ContinuousClock.now + .seconds(120)
                        while started.value < count && ContinuousClock.now < deadline { usleep(1000) }
                        return started.value == count
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == count && results.allSatisfy { $0 }, "not all \(count) long calls ran at the same time")
    }

    /// Short calls keep their shared queue: they run and return their results (or errors).
    @Test func shortCallsRunAndReturn() async throws {
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for value in 0..<32 { group.addTask { try await BlockingIO.run { value * 2 } } }
            return try await group.reduce(into: [Int]()) { $0.append($1) }.sorted()
        }
        #expect(values == (0..<32).map { $0 * 2 })
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await BlockingIO.run { throw Refused() } }
        await #expect(throws: Refused.self) { try await BlockingIO.runLong { throw Refused() } }
    }
}

private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
