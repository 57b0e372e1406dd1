import Foundation

/// How `pgbackup follow` runs.
public struct FollowOptions: Sendable {
    /// The data directory to make follow the current primary.
    public var dataDirectory: String
    /// The primary to follow, written as given into `primary_conninfo`; nil: found among the
    /// configured conninfo's hosts, and that conninfo without passwords is written.
    public var primaryConninfo: String?
    public var jobs: Int = ProcessInfo.processInfo.activeProcessorCount
    /// The `pgbackup` executable a rejoined node's `restore_command` runs.
    public var executable: String
    public var onProgress: (@Sendable (_ bytesDone: Int64, _ bytesTotal: Int64) -> Void)?

    public init(dataDirectory: String, executable: String) {
        self.dataDirectory = dataDirectory
        self.executable = executable
    }
}

/// What `follow` did, for the command's output (`--json`). Never holds a password.
public struct FollowResult: Sendable, Codable {
    public enum Action: String, Sendable, Codable {
        /// A standby's primary_conninfo rewritten (and reloaded if it runs).
        case repointed
        /// A former (or diverged) node rewritten by a delta restore as a standby.
        case rejoined
    }

    public var action: Action
    public var dataDirectory: String
    /// The primary followed, `host:port`, and its timeline.
    public var primary: String
    public var timeline: UInt32
    /// The `primary_conninfo` written, passwords masked.
    public var primaryConninfo: String
    /// Whether the directory was a standby (`standby.signal`).
    public var standby: Bool
    /// Whether a postmaster ran on the directory, and whether it was sent SIGHUP.
    public var running: Bool
    public var reloaded: Bool
    /// A running standby whose `recovery_target_timeline` was not `latest`: it takes effect at
    /// the next restart.
    public var restartNeeded: Bool
    /// Why the node could not simply be repointed (diverged, or a former primary).
    public var reason: String?
    /// Rejoined: the backup restored and what the delta restore wrote.
    public var backupID: String?
    public var bytesWritten: Int64?
    public var bytesUnchanged: Int64?
    public var bytesTotal: Int64?
    public var filesWritten: Int?
    public var filesRemoved: Int?
    public var seconds: Double
}
