import Foundation

/// The server's clock at a base backup's start and stop, read from the WAL stream the backup
/// receives (`WALReceiverStateMachine` in its backup role).
struct BackupServerTimes: Sendable {
    /// The send time of the message that carried the WAL at the start LSN: at, or a moment
    /// after, the backup's start.
    var start: Date?
    /// The send time of the newest message once the WAL up to the stop LSN had arrived and
    /// the stop LSN was known: at, or shortly after, the backup's end — never before it, which
    /// is the safe side (a restore to a time uses a backup only from its stop time on).
    var stop: Date?
    /// When the WAL up to the stop LSN had arrived (by this process's clock).
    var stopReceivedAt: ContinuousClock.Instant?
}
