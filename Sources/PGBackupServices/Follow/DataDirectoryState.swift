import Foundation
import PGBackupFoundations

#if canImport(Glibc)
import Glibc
#endif

/// What `follow` finds in a data directory before deciding anything: its PostgreSQL major
/// version, its control data (`pg_controldata` of that version), whether a postmaster runs on
/// it, whether it is a standby (`standby.signal`), and who owns it.
struct DataDirectoryState: Sendable {
    let path: String
    /// Nil when an interrupted or failed restore left the directory without `global/pg_control`
    /// (`interruptedRestore`).
    let control: ControlData?
    /// The cluster `RESTORE_FAILED` names, when a restore (an earlier rejoin) did not complete.
    let interruptedRestore: SystemIdentifier?
    /// The live postmaster of `postmaster.pid`, if any.
    let runningPID: Int32?
    let isStandby: Bool
    let owner: (uid: uid_t, gid: gid_t)

    static func inspect(_ path: String, postgresBindir: PostgresBindirs?) async throws -> DataDirectoryState {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw FollowError.notADataDirectory(path: path, reason: FileSystem.errnoDescription())
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw FollowError.notADataDirectory(path: path, reason: "not a directory") }
        let owner = (info.st_uid, info.st_gid)
        let isStandby = FileManager.default.fileExists(atPath: path + "/standby.signal")
        if !FileManager.default.fileExists(atPath: path + "/global/pg_control"),
            let marker = try? String(contentsOfFile: path + "/" + RestoreMarker.name, encoding: .utf8),
            let identifier = RestoreMarker.systemIdentifier(in: marker)
        {
            return DataDirectoryState(
                path: path, control: nil, interruptedRestore: identifier, runningPID: RestoreTargets.runningServer(in: path),
                isStandby: isStandby, owner: owner)
        }
        guard let versionText = try? String(contentsOfFile: path + "/PG_VERSION", encoding: .utf8) else {
            throw FollowError.notADataDirectory(path: path, reason: "no PG_VERSION")
        }
        guard let major = Int(versionText.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw FollowError.notADataDirectory(path: path, reason: "PG_VERSION holds '\(versionText.prefix(20))'")
        }
        guard FileManager.default.fileExists(atPath: path + "/global/pg_control") else {
            throw FollowError.notADataDirectory(path: path, reason: "no global/pg_control")
        }
        let binaries = try await ServerBinaries.find(major: major, configured: postgresBindir)
        let tool = binaries.path("pg_controldata")
        guard FileManager.default.isExecutableFile(atPath: tool) else {
            throw FollowError.controlDataFailed(path: path, reason: "\(tool) is missing")
        }
        // In English whatever the machine's locale: the parser reads the C locale's labels.
        let environment = ["LC_ALL": "C", "LANG": "C", "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        let result = try await ChildProcess.run(tool, ["-D", path], environment: environment, timeout: .seconds(30))
        guard result.succeeded else {
            throw FollowError.controlDataFailed(path: path, reason: "\(tool) failed: \(result.excerpt(lines: 4))")
        }
        let control = try ControlData(parsing: result.output)
        return DataDirectoryState(
            path: path, control: control, interruptedRestore: nil, runningPID: RestoreTargets.runningServer(in: path),
            isStandby: isStandby, owner: owner)
    }

    /// The cluster the directory belongs to: pg_control's, or the interrupted restore's.
    var systemIdentifier: SystemIdentifier {
        switch (control, interruptedRestore) {
        case let (control?, _): control.systemIdentifier
        case let (nil, restore?): restore
        // `inspect` makes one or the other; no caller builds the state otherwise.
        case (nil, nil): preconditionFailure("a data directory state without pg_control or RESTORE_FAILED")
        }
    }

    /// The effective value of a setting in the directory's configuration files:
    /// `postgresql.auto.conf` wins over `postgresql.conf` (includes are not followed).
    func setting(_ name: String) -> String? {
        for file in ["postgresql.auto.conf", "postgresql.conf"] {
            if let text = try? String(contentsOfFile: path + "/" + file, encoding: .utf8), let value = AutoConf.value(of: name, in: text) {
                return value
            }
        }
        return nil
    }
}
