import Testing
import PGBackupDaemon

@Suite("daemon state")
struct DaemonStateTests {
    @Test func jobsAndErrorsAreRecorded() {
        let state = DaemonState(server: "main")
        state.updateJob(.backup) { $0.runs += 1; $0.lastBackupID = "20261130T000000Z" }
        state.countError("backup")
        state.countError("backup")
        let snapshot = state.snapshot
        #expect(snapshot.jobs[.backup]?.runs == 1 && snapshot.jobs[.backup]?.lastBackupID == "20261130T000000Z")
        #expect(snapshot.jobs[.verifyRestore] == nil)
        #expect(snapshot.errors == ["backup": 2])
    }
}
