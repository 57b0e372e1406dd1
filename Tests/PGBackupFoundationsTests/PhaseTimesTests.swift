import Foundation
import Testing
@testable import PGBackupFoundations
import Synchronization

@Suite("PhaseTimes and PhaseClock")
struct PhaseTimesTests {
    @Test func lapsFollowEachOtherAndOverlappingPhasesAreNotCountedTwice() throws {
        let start = ContinuousClock.now - .milliseconds(30)
        let logged = LoggedPhases()
        let clock = PhaseClock(start: start) { logged.append($0) }
        let first = clock.lap("first")
        #expect(first >= 0.03)
        clock.record("inside", seconds: 5, within: "second")
        let second = clock.lap("second")
        let times = clock.times
        #expect(times.phases.map(\.name) == ["first", "inside", "second"])
        #expect(times.phases.map(\.within) == [nil, "second", nil])
        #expect(times.total == first + second)
        #expect(times["inside"] == 5)
        #expect(times["absent"] == nil)
        #expect(logged.names == ["first", "inside", "second"])
    }

    @Test func encodesAsABareArrayAndDecodesBack() throws {
        let times = PhaseTimes([.init(name: "stream", seconds: 1.5), .init(name: "wal", seconds: 0.25, within: "finish")])
        let data = try JSONEncoder().encode(times)
        let array = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(array.count == 2 && array[0]["name"] as? String == "stream" && array[1]["within"] as? String == "finish")
        #expect(try JSONDecoder().decode(PhaseTimes.self, from: data) == times)
    }

    @Test func summaryAndFormat() {
        #expect(PhaseTimes.format(1.0005) == "1.001" || PhaseTimes.format(1.0005) == "1.000")
        #expect(PhaseTimes.format(0.042) == "0.042")
        #expect(PhaseTimes.format(12.3) == "12.300")
        let times = PhaseTimes([.init(name: "a", seconds: 0.5), .init(name: "b", seconds: 0.012, within: "a")])
        #expect(times.summary == "a=0.500s a/b=0.012s")
    }
}

private final class LoggedPhases: Sendable {
    private let phases = Mutex<[String]>([])
    func append(_ phase: PhaseTimes.Phase) { phases.withLock { $0.append(phase.name) } }
    var names: [String] { phases.withLock { $0 } }
}
