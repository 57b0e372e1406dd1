import Foundation
import PGBackupServices

/// The settings and the policy the scheduler works from: loaded and validated at start, and
/// again on SIGHUP, when a bad one is refused and the old one kept.
public struct SchedulerConfiguration: Sendable {
    public var settings: Settings
    /// The policy as loaded then (nil: none set); jobs use this copy, not the file as it is now.
    public var policy: Policy?

    public init(settings: Settings, policy: Policy?) {
        self.settings = settings
        self.policy = policy
    }

    /// `settings` with its policy loaded and validated.
    public static func load(_ settings: Settings) throws -> SchedulerConfiguration {
        SchedulerConfiguration(settings: settings, policy: try settings.loadPolicy())
    }

    /// The job kinds' schedules.
    public var schedules: [DaemonState.JobKind: PolicySchedule] { ScheduleTable.schedules(of: policy) }

    /// The settings the running daemon cannot change without a restart (its WAL stream, its
    /// repository and its endpoint are set up once), by name, each with whether `other` differs.
    public func restartOnlyChanges(in other: Settings) -> [String] {
        let old = settings
        var changed: [String] = []
        if old.repository?.description != other.repository?.description { changed.append("repository") }
        if old.server != other.server { changed.append("server") }
        if old.conninfo?.value != other.conninfo?.value { changed.append("conninfo") }
        if old.slot != other.slot { changed.append("slot") }
        if old.compression.description != other.compression.description { changed.append("compression") }
        if old.s3.description != other.s3.description || old.s3.secretAccessKey?.value != other.s3.secretAccessKey?.value { changed.append("s3") }
        if old.encryptionKeyFile != other.encryptionKeyFile { changed.append("encryption_key_file") }
        if old.spoolDirectory != other.spoolDirectory { changed.append("spool_directory") }
        if old.httpListen != other.httpListen { changed.append("http") }
        return changed
    }

    /// The configuration after a reload to `fresh`: its policy and the settings jobs read when
    /// they start (`policy`, `postgres_bindir`, `verify_run_as`); the rest stays as it is.
    public func reloaded(from fresh: Settings, policy: Policy?) -> SchedulerConfiguration {
        var settings = self.settings
        settings.policy = fresh.policy
        settings.policyDirectory = fresh.policyDirectory
        settings.postgresBindir = fresh.postgresBindir
        settings.verifyRunAs = fresh.verifyRunAs
        return SchedulerConfiguration(settings: settings, policy: policy)
    }
}
