import Foundation
import Logging
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import PGBackupStorage

/// `pgbackup check`: every check of DESIGN.md's "Checks and verification", each independent —
/// one that cannot be measured (repository unreachable, primary down) is reported unhealthy and
/// the others still run. Nothing here throws for an unhealthy state; the command maps the
/// report to the exit status.
///
/// Thresholds come from the policy's `alerts` (`CheckThresholds`), defaults otherwise:
/// backup_max_age 26h, wal_max_age 5m, slot_retained_max 2GiB.
public struct CheckService: Sendable {
    public let settings: Settings
    public let logger: Logger
    private let environment: [String: String]
    private let clock: @Sendable () -> Date

    public init(settings: Settings, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
                clock: @escaping @Sendable () -> Date = { Date() }) {
        self.settings = settings
        self.logger = logger
        self.environment = environment
        self.clock = clock
    }

    /// Runs every check. Throws only for a configuration error (exit 2).
    public func run() async throws -> CheckReport {
        let policy = try settings.loadPolicy()
        _ = try settings.requireRepository()
        let thresholds = CheckThresholds(policy: policy)
        var checks = [configuration(policy)]

        // The repository.
        var repository: Repository?
        var info: RepositoryInfo?
        var repositoryResult: CheckResult
        do {
            let (opened, read) = try await RepositoryAccess.openReadingInfo(settings)
            info = read
            repository = opened
            let encryption = opened.keyID.map { "encrypted (\(opened.encryption), key id \($0))" } ?? "not encrypted"
            repositoryResult = CheckResult(name: "repository", ok: true, detail: "\(opened.store.location) reachable, initialized for server '\(settings.server)' (system identifier \(info!.systemIdentifier)), \(encryption)")
        } catch RepositoryError.notInitialized(let server, let location) {
            repositoryResult = CheckResult(name: "repository", ok: false, detail: "\(location) has no repository for server '\(server)'; HINT: run `pgbackup init`")
        } catch {
            repositoryResult = CheckResult(name: "repository", ok: false, detail: "unable to read the repository: \(scrub(Self.reason(error)))")
        }

        // The primary, chosen as the daemon chooses it; the repository check compares its system identifier.
        var primary: PrimaryState?
        var primaryResult: CheckResult
        do {
            let found = try await probePrimary(info: info, repository: repository)
            primary = found.state
            primaryResult = CheckResult(name: "primary", ok: found.splitBrain == nil, detail: found.splitBrain ?? "")  // completed below
        } catch {
            primaryResult = CheckResult(name: "primary", ok: false, detail: scrub(Self.reason(error)))
        }
        if let info, let primary, let system = primary.systemIdentifier {
            if info.systemIdentifier != system {
                let detail: String
                if let version = primary.versionNumber, info.isUpgrade(to: version) {
                    // pg_upgrade's new cluster: say what to run (`init --upgrade`).
                    let upgraded = RepositoryError.clusterUpgraded(
                        server: settings.server, location: repository?.store.location ?? "", host: primary.server,
                        repository: info.systemIdentifier, repositoryVersion: info.postgresVersionNumber, cluster: system,
                        clusterVersion: version)
                    detail = "\(upgraded)".replacingOccurrences(of: "\nHINT:", with: "; HINT:")
                } else {
                    detail = "the repository belongs to system identifier \(info.systemIdentifier) (PostgreSQL \(info.postgresMajor)) but \(primary.server) is \(system)\(primary.versionNumber.map { " (PostgreSQL \(PostgresVersion.major(of: $0)))" } ?? ""): a different cluster; HINT: PGBACKUP_REPO or PGBACKUP_SERVER names another cluster's repository: point the configuration at this cluster's own"
                }
                repositoryResult = CheckResult(name: "repository", ok: false, detail: detail)
            } else {
                repositoryResult.detail += ", the same as \(primary.server)"
            }
        } else if info != nil {
            repositoryResult.detail += primary == nil
                ? "; not compared with the primary (none reachable)"
                : "; not compared with the primary (\(primary?.systemIdentifierProblem ?? "no system identifier"))"
        }
        checks.append(repositoryResult)
        checks.append(primaryCheck(primaryResult, primary: primary, info: info))
        checks.append(slotCheck(primary: primary, thresholds: thresholds))

        // What the repository holds.
        guard let repository, let info else {
            let why = "not checked: the repository is unreachable (see the repository check)"
            for name in ["wal", "continuity", "backup_age", "backup_checksums", "redundancy", "verification"] {
                checks.append(CheckResult(name: name, ok: false, detail: why))
            }
            checks.append(await divergedCheck(repository: nil, info: nil))
            return CheckReport(checks: checks)
        }
        let now = clock()
        checks += await walAndContinuity(repository: repository, info: info, primary: primary, policy: policy, thresholds: thresholds)
        checks += await backupChecks(repository: repository, now: now, policy: policy, thresholds: thresholds)
        do {
            checks.append(CheckRules.verification(try await VerificationLog(repository: repository).latest().newest))
        } catch {
            checks.append(CheckResult(name: "verification", ok: false, detail: "unable to read the verification records: \(scrub(Self.reason(error)))"))
        }
        checks.append(await divergedCheck(repository: repository, info: info))
        // Keep the order stable: configuration, repository, primary, slot, wal, continuity, backup_age, backup_checksums, redundancy, verification.
        return CheckReport(checks: checks.sorted { Self.order($0.name) < Self.order($1.name) })
    }

    static let names = ["configuration", "repository", "primary", "slot", "wal", "continuity", "backup_age", "backup_checksums", "redundancy", "verification"]
    private static func order(_ name: String) -> Int { names.firstIndex(of: name) ?? names.count }

    private func configuration(_ policy: Policy?) -> CheckResult {
        let thresholds = CheckThresholds(policy: policy)
        let limits = "backup_max_age \(CheckRules.duration(thresholds.backupMaxAge)), wal_max_age \(CheckRules.duration(thresholds.walMaxAge)), slot_retained_max \(CheckRules.bytes(thresholds.slotRetainedMax))"
        guard let policy else {
            return CheckResult(name: "configuration", ok: true, detail: "valid; no policy (defaults: \(limits))")
        }
        let name = settings.policy ?? policy.path
        return CheckResult(name: "configuration", ok: true, detail: "valid; policy \(name)\(name == policy.path ? "" : " (\(policy.path))"): \(limits)")
    }

    /// Asks every server of the conninfo and chooses the primary as the daemon does
    /// (`PrimaryLocator`), then reads that server's state. With a split brain, the alert (the
    /// state is still the chosen server's). Throws `NoPrimaryFound` naming every server's answer.
    private func probePrimary(info: RepositoryInfo?, repository: Repository?) async throws -> (state: PrimaryState, splitBrain: String?) {
        guard let conninfo = settings.conninfo?.value else {
            throw ConfigurationError.missing(setting: "conninfo", hint: "set PGBACKUP_CONNINFO to the primary's libpq connection string")
        }
        let statuses = try await PrimaryLocator.survey(conninfo: conninfo, environment: environment)
        var minimumTimeline: TimelineID?
        if let info, let repository {
            let archive = WALArchive(repository: repository, segmentSize: info.walSegmentSize, compression: settings.compression)
            minimumTimeline = try? await archive.continuity().latestTimeline
        }
        // Without the repository, the first primary's cluster (the repository check says why).
        let primaries = statuses.filter(\.isPrimary)
        guard let systemIdentifier = info?.systemIdentifier ?? primaries.first?.identity?.systemIdentifier else {
            throw NoPrimaryFound(detail: "no server answers as a primary (\(statuses.map(\.description).joined(separator: "; ")))")
        }
        let choice = PrimaryLocator.choose(from: statuses, systemIdentifier: systemIdentifier, minimumTimeline: minimumTimeline)
        // Only another cluster's primary answers: its state, so that the mismatch is named.
        let ours = statuses.contains { $0.identity?.systemIdentifier == systemIdentifier }
        let chosen = choice.primary ?? (ours ? nil : primaries.first)
        guard let chosen, let identity = chosen.identity else {
            let answers = statuses.map(\.description).joined(separator: "; ")
            let refusal = choice.refusal ?? "no primary answers"
            throw NoPrimaryFound(detail: refusal.contains(answers) ? refusal : "\(refusal); the servers answered: \(answers)")
        }
        var state = try await PrimaryProbe.probe(
            conninfo: conninfo, slot: settings.slot,
            overriding: PrimaryLocator.overrides(chosen.server, conninfo: conninfo, environment: environment))
        state.server = "\(chosen.server)"
        if state.systemIdentifier == nil, !state.inRecovery {
            // pg_control_system() may need privileges the role lacks; IDENTIFY_SYSTEM (the survey) needs REPLICATION.
            state.systemIdentifier = identity.systemIdentifier
            state.systemIdentifierProblem = nil
        }
        let splitBrain = choice.otherPrimaries.isEmpty ? nil : "ALERT: split brain: \(chosen.server) (timeline \(identity.timeline)) and \(choice.otherPrimaries.map { "\($0.server) (timeline \($0.identity.map { "\($0.timeline)" } ?? "?"))" }.joined(separator: ", ")) \(choice.otherPrimaries.count == 1 ? "both" : "all") answer as primary of system \(systemIdentifier); the daemon streams from \(chosen.server), the newest timeline; HINT: fence or stop the other primary"
        return (state, splitBrain)
    }

    /// No server of the conninfo can be used as the primary.
    struct NoPrimaryFound: Error, CustomStringConvertible {
        var detail: String
        var description: String { detail }
    }

    private func primaryCheck(_ result: CheckResult, primary: PrimaryState?, info: RepositoryInfo?) -> CheckResult {
        guard let primary else {
            let conninfo = settings.conninfo.map { redactingPasswords(inConninfo: $0.value) } ?? "not set"
            if result.detail.contains(": standby on timeline") {
                // Standbys answered, no primary: a failover in progress, or the primary is not listed.
                return CheckResult(name: "primary", ok: false, detail: "no primary reachable: only standbys answered, no primary was found: \(result.detail); HINT: list the current primary in PGBACKUP_CONNINFO (\(conninfo))")
            }
            let hint = result.detail.contains("HINT") ? "" : "; HINT: check that the server runs and PGBACKUP_CONNINFO (\(conninfo))"
            return CheckResult(name: "primary", ok: false, detail: "no primary reachable: \(result.detail)\(hint)")
        }
        if primary.inRecovery {
            return CheckResult(name: "primary", ok: false, detail: "\(primary.server) answered but is in recovery (a standby); HINT: list the current primary in PGBACKUP_CONNINFO's host=")
        }
        guard let system = primary.systemIdentifier else {
            return CheckResult(name: "primary", ok: false, detail: "\(primary.server) is a primary but its system identifier is unreadable: \(primary.systemIdentifierProblem ?? "unknown"); HINT: grant the role pg_monitor or REPLICATION")
        }
        if let info, info.systemIdentifier != system {
            return CheckResult(name: "primary", ok: false, detail: "\(primary.server) is a primary of system identifier \(system), not the repository's \(info.systemIdentifier); HINT: PGBACKUP_CONNINFO names another cluster")
        }
        if !result.ok {
            return result  // the split brain alert
        }
        return CheckResult(name: "primary", ok: true, detail: "\(primary.server) is a primary (not in recovery), system identifier \(system), WAL at \(primary.currentLSN?.description ?? "?")")
    }

    private func slotCheck(primary: PrimaryState?, thresholds: CheckThresholds) -> CheckResult {
        guard let primary, !primary.inRecovery else {
            return CheckResult(name: "slot", ok: false, detail: "replication slot '\(settings.slot)' not checked: no primary reachable")
        }
        return CheckRules.slot(
            name: settings.slot, active: primary.slot?.active, restartLSN: primary.slot?.restartLSN,
            currentLSN: primary.currentLSN, maxRetained: thresholds.slotRetainedMax,
            invalidation: primary.slot?.invalidation, inactiveSince: primary.slot?.inactiveSince)
    }
}

extension CheckService {
    /// `wal` and `continuity`: one survey of the archive.
    func walAndContinuity(
        repository: Repository, info: RepositoryInfo, primary: PrimaryState?, policy: Policy?, thresholds: CheckThresholds
    ) async -> [CheckResult] {
        let survey: (continuity: WALContinuity, serverTimes: [TimelineID: WALTimeMark])
        let segmentSize: WALSegmentSize
        do {
            segmentSize = info.walSegmentSize
            let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
            survey = try await archive.survey()
            var histories: [TimelineID: TimelineHistory] = [:]
            for timeline in survey.continuity.timelines where timeline.hasHistoryFile {
                histories[timeline.timeline] = try await archive.history(of: timeline.timeline)
            }
            // The archive's end, the stored partial tail included (as RestoreService counts it).
            var end: LSN?
            for timeline in survey.continuity.timelines {
                guard var timelineEnd = timeline.endOfArchive ?? timeline.partials.first?.startLSN else { continue }
                let next = WALSegmentName(timeline: timeline.timeline, containing: timelineEnd, segmentSize: segmentSize)
                if timeline.partials.contains(next), let length = try await archive.partialLength(of: next) {
                    timelineEnd = timelineEnd + length
                }
                end = max(end ?? timelineEnd, timelineEnd)
            }
            let newestTime = survey.serverTimes.values.map(\.time).max()
            let walResult: CheckResult
            if let primary, let current = primary.currentLSN {
                walResult = CheckRules.wal(
                    currentLSN: current, archiveEnd: end, serverNow: primary.now, newestArchivedTime: newestTime,
                    maxAge: thresholds.walMaxAge, segmentSize: segmentSize.bytes)
            } else {
                walResult = CheckResult(name: "wal", ok: false, detail: "not measured: no primary to compare with (see the primary check); the archive ends at \(end?.description ?? "nothing")\(newestTime.map { ", newest WAL from \(CheckRules.timestamp($0))" } ?? "")")
            }
            let survey2 = try await BackupCatalog(repository: repository).survey()
            let backups = survey2.backups.map {
                CheckContinuity.Backup(id: $0.id.description, timeline: $0.timeline, startLSN: $0.startLSN, stopLSN: $0.stopLSN, pin: $0.pin)
            }
            let continuity = CheckContinuity(
                backups: backups, wal: policy?.retention?.wal ?? .pitr, continuity: survey.continuity, histories: histories,
                gaps: try await archive.gaps())
            return [walResult, continuity.result()]
        } catch {
            let detail = "unable to read the WAL archive: \(scrub(Self.reason(error)))"
            return [CheckResult(name: "wal", ok: false, detail: detail), CheckResult(name: "continuity", ok: false, detail: detail)]
        }
    }

    /// `backup_age`, `backup_checksums` and `redundancy`.
    func backupChecks(repository: Repository, now: Date, policy: Policy?, thresholds: CheckThresholds) async -> [CheckResult] {
        do {
            let survey = try await BackupCatalog(repository: repository).survey()
            let newest = survey.backups.max { $0.stopTime < $1.stopTime }
            return [
                CheckRules.backupAge(newestStop: newest?.stopTime, newestID: newest?.id.description, now: now, maxAge: thresholds.backupMaxAge),
                CheckRules.backupChecksums(newestID: newest?.id.description, failures: newest?.checksumFailures),
                CheckRules.redundancy(complete: survey.backups.count, minimum: thresholds.minimumBackups, policy: policy?.retention?.minimumRedundancy == nil ? nil : settings.policy),
            ]
        } catch {
            let detail = "unable to list the backups: \(scrub(Self.reason(error)))"
            return ["backup_age", "backup_checksums", "redundancy"].map { CheckResult(name: $0, ok: false, detail: detail) }
        }
    }

    /// An error's message on one line.
    static func reason(_ error: any Error) -> String {
        "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    }

    /// Text with any password of the conninfo removed, whatever put it there.
    func scrub(_ text: String) -> String {
        var text = redactingPasswords(inConninfo: text)
        for secret in passwords where !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "********") }
        return text
    }

    /// The conninfo's password values (keyword form `password=…` and a URI's `user:…@`).
    private var passwords: [String] {
        guard let conninfo = settings.conninfo?.value else { return [] }
        var found: [String] = []
        if let match = conninfo.range(of: "password\\s*=\\s*('([^'\\\\]|\\\\.)*'|[^\\s&]+)", options: .regularExpression) {
            var value = String(conninfo[match].drop { $0 != "=" }.dropFirst()).trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("'") && value.hasSuffix("'") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            found.append(value)
        }
        return found
    }
}
