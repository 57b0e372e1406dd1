import Testing
import PGBackupFoundations
import PGBackupPostgres
import PGBackupServices

@Suite("primary locator: choosing the server to stream from")
struct PrimaryLocatorTests {
    static let system: SystemIdentifier = 7_000_000_000_000_000_001

    func status(_ host: String, timeline: UInt32 = 1, standby: Bool = false, system: SystemIdentifier = system) -> ServerStatus {
        ServerStatus(
            server: ConninfoServer(host: host, port: "5432"),
            identity: SystemIdentity(systemIdentifier: system, timeline: TimelineID(timeline), xlogPosition: LSN(0x1000), database: nil),
            inRecovery: standby, problem: nil)
    }

    func down(_ host: String) -> ServerStatus {
        ServerStatus(server: ConninfoServer(host: host, port: "5432"), identity: nil, inRecovery: nil, problem: "connection refused")
    }

    @Test func aStandbyListedFirstIsSkipped() {
        let choice = PrimaryLocator.choose(from: [status("b", standby: true), status("a")], systemIdentifier: Self.system, minimumTimeline: nil)
        #expect(choice.primary?.server.host == "a")
        #expect(!choice.isSplitBrain)
    }

    @Test func anotherClusterIsNeverChosen() {
        let choice = PrimaryLocator.choose(from: [status("x", system: 42), down("a")], systemIdentifier: Self.system, minimumTimeline: nil)
        #expect(choice.primary == nil)
        #expect(choice.refusal?.contains("another cluster") == true)
    }

    @Test func twoPrimariesTheHigherTimelineWins() {
        let servers = [status("a", timeline: 1), status("b", timeline: 2)]
        let choice = PrimaryLocator.choose(from: servers, systemIdentifier: Self.system, minimumTimeline: TimelineID(1))
        #expect(choice.primary?.server.host == "b")
        #expect(choice.otherPrimaries.map(\.server.host) == ["a"])
        #expect(choice.isSplitBrain)
    }

    @Test func equalTimelinesKeepTheCurrentServer() {
        let servers = [status("a", timeline: 3), status("b", timeline: 3)]
        let sticky = PrimaryLocator.choose(from: servers, systemIdentifier: Self.system, minimumTimeline: nil, current: servers[1].server)
        #expect(sticky.primary?.server.host == "b")
        let first = PrimaryLocator.choose(from: servers, systemIdentifier: Self.system, minimumTimeline: nil)
        #expect(first.primary?.server.host == "a")
    }

    @Test func aFormerPrimaryOnAnOlderTimelineIsRefused() {
        let choice = PrimaryLocator.choose(from: [status("a", timeline: 1), down("b")], systemIdentifier: Self.system, minimumTimeline: TimelineID(2))
        #expect(choice.primary == nil)
        #expect(choice.refusal?.contains("former primary") == true)
        #expect(choice.formerPrimary?.server.host == "a")
    }
}
