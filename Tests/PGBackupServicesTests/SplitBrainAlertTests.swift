import Logging
import PGBackupFoundations
import PGBackupPostgres
import Testing
@testable import PGBackupServices

@Suite("split brain: alerted and counted once per pair of primaries")
struct SplitBrainAlertTests {
    func primary(_ host: String, timeline: UInt32) -> ServerStatus {
        ServerStatus(
            server: ConninfoServer(host: host, port: "5432"),
            identity: SystemIdentity(systemIdentifier: 7, timeline: TimelineID(timeline), xlogPosition: .zero, database: nil),
            inRecovery: false, problem: nil)
    }

    @Test func eachPairIsCountedOnceHoweverOftenItIsSeen() {
        let streamer = WALStreamer(
            settings: Settings(), options: WALStreamerOptions(spoolDirectory: "/nonexistent"), logger: Logger(label: "test"), environment: [:])
        let b = ConninfoServer(host: "b", port: "5432")
        #expect(streamer.splitBrainsDetected.load(ordering: .relaxed) == 0)
        for _ in 0..<3 { streamer.noteSplitBrain(chosen: b, timeline: TimelineID(2), others: [primary("a", timeline: 1)]) }
        #expect(streamer.splitBrainsDetected.load(ordering: .relaxed) == 1)
        // Another server, or the same one on another timeline, is another split brain.
        streamer.noteSplitBrain(chosen: b, timeline: TimelineID(2), others: [primary("c", timeline: 2)])
        streamer.noteSplitBrain(chosen: b, timeline: TimelineID(2), others: [primary("a", timeline: 3)])
        #expect(streamer.splitBrainsDetected.load(ordering: .relaxed) == 3)
        streamer.noteSplitBrain(chosen: b, timeline: TimelineID(2), others: [])
        #expect(streamer.splitBrainsDetected.load(ordering: .relaxed) == 3)
    }
}
