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
        CheckDecision.report(try await gather())
    }

    /// For an S3 repository: the credentials the repository was just read with (the process's
    /// shared cache) and, with `s3.sse`, a probe object's encryption as S3 stored it.
    func s3Access() async throws -> CheckInputs.S3Access? {
        guard case .s3 = settings.repository else { return nil }
        let credentials = try StoreFactory.credentials(settings)
        var access = CheckInputs.S3Access(credentials: credentials.status)
        if let expected = try settings.s3.serverSideEncryption() {
            access.encryption = await measure {
                guard let store = try StoreFactory.open(settings) as? S3ObjectStore, let probe = try await store.probeServerSideEncryption() else {
                    throw StorageError.unusableStore(store: settings.repository?.description ?? "", reason: "not an S3 store")
                }
                return CheckInputs.SSEProbe(expected: expected.description, matches: probe.matches, answered: probe.answered)
            }
            access.credentials = credentials.status
        }
        return access
    }

    /// Every measurement `CheckDecision` judges, each on its own: one that fails is recorded
    /// with its reason and the others still run.
    func gather() async throws -> CheckInputs {
        let policy = try settings.loadPolicy()
        _ = try settings.requireRepository()

        // The repository.
        var repository: Repository?
        let repositoryReading: CheckInputs.RepositoryReading
        do {
            let (opened, info) = try await RepositoryAccess.openReadingInfo(settings)
            repository = opened
            repositoryReading = .opened(location: opened.store.location, keyID: opened.keyID, encryption: opened.encryption, info: info)
        } catch RepositoryError.notInitialized(let server, let location) {
            repositoryReading = .notInitialized(server: server, location: location)
        } catch {
            repositoryReading = .failed(reason: scrub(Self.reason(error)))
        }
        let info = repositoryReading.info

        // The primary, chosen as the daemon chooses it.
        let primary: CheckInputs.Measured<CheckInputs.Primary>
        do {
            let found = try await probePrimary(info: info, repository: repository)
            primary = .measured(.init(state: found.state, splitBrain: found.splitBrain))
        } catch {
            primary = .failed(reason: scrub(Self.reason(error)))
        }

        var inputs = CheckInputs(
            server: settings.server, slot: settings.slot, policyName: settings.policy, policy: policy,
            conninfo: settings.conninfo.map { redactingPasswords(inConninfo: $0.value) }, now: clock(),
            repository: repositoryReading, s3: try await s3Access(), primary: primary)
        // What the repository holds.
        guard let repository, let info else { return inputs }
        inputs.archive = await measure { try await archive(repository: repository, info: info) }
        inputs.backups = await measure {
            let survey = try await BackupCatalog(repository: repository).survey()
            let newest = survey.backups.max { $0.stopTime < $1.stopTime }
            return CheckInputs.Backups(
                newestID: newest?.id.description, newestStop: newest?.stopTime, newestChecksumFailures: newest?.checksumFailures,
                complete: survey.backups.count)
        }
        inputs.verification = await measure { try await VerificationLog(repository: repository).latest().newest }
        inputs.diverged = await measure { try await diverged(repository: repository, info: info) }
        return inputs
    }

    /// `body`'s value, or its error as a scrubbed one-line reason.
    private func measure<Value: Sendable>(_ body: () async throws -> Value) async -> CheckInputs.Measured<Value> {
        do {
            return .measured(try await body())
        } catch {
            return .failed(reason: scrub(Self.reason(error)))
        }
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
}

extension CheckService {
    /// What `wal` and `continuity` judge: one survey of the archive, its timeline histories, its
    /// end (the stored partial tail included, as RestoreService counts it), the backups and gaps.
    func archive(repository: Repository, info: RepositoryInfo) async throws -> CheckInputs.Archive {
        let segmentSize = info.walSegmentSize
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
        let survey = try await archive.survey()
        var histories: [TimelineID: TimelineHistory] = [:]
        for timeline in survey.continuity.timelines where timeline.hasHistoryFile {
            histories[timeline.timeline] = try await archive.history(of: timeline.timeline)
        }
        var end: LSN?
        for timeline in survey.continuity.timelines {
            guard var timelineEnd = timeline.endOfArchive ?? timeline.partials.first?.startLSN else { continue }
            let next = WALSegmentName(timeline: timeline.timeline, containing: timelineEnd, segmentSize: segmentSize)
            if timeline.partials.contains(next), let length = try await archive.partialLength(of: next) {
                timelineEnd = timelineEnd + length
            }
            end = max(end ?? timelineEnd, timelineEnd)
        }
        let backups = try await BackupCatalog(repository: repository).survey().backups.map {
            CheckContinuity.Backup(id: $0.id.description, timeline: $0.timeline, startLSN: $0.startLSN, stopLSN: $0.stopLSN, pin: $0.pin)
        }
        return CheckInputs.Archive(
            segmentSize: segmentSize, continuity: survey.continuity, histories: histories, end: end,
            newestTime: survey.serverTimes.values.map(\.time).max(), backups: backups, gaps: try await archive.gaps())
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
