import Dispatch
import Foundation
import PGBackupFoundations
import Synchronization
import Testing

/// `BlockingIO.runLong`'s promise: calls blocked for long neither stall Swift's cooperative pool
/// nor wait for one another. `run`'s shared concurrent queue keeps neither on Linux (it shares
/// its width-limited root queue with the global executor, so calls blocked on every core starve
/// all tasks until libdispatch's monitor adds a thread: a backup's chunk store stalled 0.6 s when
/// its reader and WAL receiver ran there); both tests fail with `run` in place of `runLong`.
@Suite("BlockingIO")
struct BlockingIOTests {
    /// More blocked calls than cores, and a cooperative task must still run promptly.
    @Test func blockedCallsDoNotStallTheCooperativePool() async throws {
        let blocked = ProcessInfo.processInfo.activeProcessorCount * 2
        let release = DispatchSemaphore(value: 0)
        let started = Counter()
        let calls = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<blocked {
                    group.addTask {
                        try await BlockingIO.runLong {
                            started.increment()
                            release.wait()
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        defer { for _ in 0..<blocked { release.signal() } }
        try await waitUntil(timeout: .seconds(5)) { started.value == blocked }

        // Every BlockingIO thread is blocked now: a plain task must still get a thread at once.
        let clock = ContinuousClock()
        let before = clock.now
        let ran = await Task.detached { clock.now }.value
        // Bounds loose enough for a loaded CI machine; the old queue failed by seconds (or never
        // started all the calls).
        #expect(ran - before < .seconds(2), "a task waited \(ran - before) behind \(blocked) blocked calls")

        for _ in 0..<blocked { release.signal() }
        try await calls.value
    }

    /// Calls that can only finish together (each waits for all the others) all run at once.
    @Test func concurrentBlockedCallsAllRunAtOnce() async throws {
        let count = 16
        let arrived = Counter()
        let clock = ContinuousClock()
        let before = clock.now
        let results = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<count {
                group.addTask {
                    try await BlockingIO.runLong {
                        arrived.increment()
                        let deadline = ContinuousClock.now + .seconds(10)
                        while arrived.value < count && ContinuousClock.now < deadline { usleep(1000) }
                        return arrived.value == count
                    }
                }
            }
            return try await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.allSatisfy { $0 }, "not all \(count) calls ran at the same time")
        #expect(clock.now - before < .seconds(5), "\(count) calls took \(clock.now - before) to run together")
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
    }

    private func waitUntil(timeout: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}

private final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func increment() { count.withLock { $0 += 1 } }
}
