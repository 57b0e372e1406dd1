import Foundation
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository

/// `pgbackup check`'s report from what was measured (`CheckInputs`). Pure: the repository
/// compared with the primary, the primary's and the slot's verdicts, and each repository check
/// by `CheckRules`; a measurement that failed makes its checks unhealthy with its reason.
enum CheckDecision {
    static let names = ["configuration", "repository", "primary", "slot", "wal", "continuity", "backup_age", "backup_checksums", "redundancy", "verification"]
    /// The checks of an S3 repository, after `repository`.
    static let s3Names = ["s3_credentials", "s3_encryption"]
    private static let ordered = Array(names.prefix(2)) + s3Names + names.dropFirst(2)
    private static func order(_ name: String) -> Int { ordered.firstIndex(of: name) ?? ordered.count }

    static func report(_ inputs: CheckInputs) -> CheckReport {
        let thresholds = CheckThresholds(policy: inputs.policy)
        let primary: PrimaryState? = if case .measured(let found) = inputs.primary { found.state } else { nil }
        var checks = [
            configuration(policy: inputs.policy, name: inputs.policyName),
            repository(inputs, primary: primary),
            self.primary(inputs, primary: primary),
            slot(name: inputs.slot, primary: primary, thresholds: thresholds),
        ]
        if let s3 = inputs.s3 {
            checks.append(CheckRules.s3Credentials(s3.credentials, now: inputs.now))
            if let encryption = s3.encryption { checks.append(CheckRules.s3Encryption(encryption)) }
        }

        guard let archive = inputs.archive, let backups = inputs.backups, let verification = inputs.verification, let diverged = inputs.diverged else {
            let why = "not checked: the repository is unreachable (see the repository check)"
            for name in ["wal", "continuity", "backup_age", "backup_checksums", "redundancy", "verification"] {
                checks.append(CheckResult(name: name, ok: false, detail: why))
            }
            checks.append(CheckResult(name: "diverged", ok: false, detail: why))
            return CheckReport(checks: checks)
        }
        checks += walAndContinuity(archive, primary: primary, policy: inputs.policy, thresholds: thresholds)
        checks += self.backups(backups, now: inputs.now, policy: inputs.policy, policyName: inputs.policyName, thresholds: thresholds)
        switch verification {
        case .measured(let record): checks.append(CheckRules.verification(record))
        case .failed(let reason): checks.append(CheckResult(name: "verification", ok: false, detail: "unable to read the verification records: \(reason)"))
        }
        switch diverged {
        case .measured(let found):
            checks.append(CheckRules.diverged(found.records, newestBackupID: found.newestBackupID, newestBackupStop: found.newestBackupStop))
        case .failed(let reason):
            checks.append(CheckResult(name: "diverged", ok: false, detail: "unable to read the diverged WAL records: \(reason)"))
        }
        // Keep the order stable: configuration, repository, primary, slot, wal, continuity, backup_age, backup_checksums, redundancy, verification.
        return CheckReport(checks: checks.sorted { order($0.name) < order($1.name) })
    }

    /// `configuration`: the policy read (its name as configured and its path) and the limits.
    static func configuration(policy: Policy?, name configured: String?) -> CheckResult {
        let thresholds = CheckThresholds(policy: policy)
        let limits = "backup_max_age \(CheckRules.duration(thresholds.backupMaxAge)), wal_max_age \(CheckRules.duration(thresholds.walMaxAge)), slot_retained_max \(CheckRules.bytes(thresholds.slotRetainedMax))"
        guard let policy else {
            return CheckResult(name: "configuration", ok: true, detail: "valid; no policy (defaults: \(limits))")
        }
        let name = configured ?? policy.path
        return CheckResult(name: "configuration", ok: true, detail: "valid; policy \(name)\(name == policy.path ? "" : " (\(policy.path))"): \(limits)")
    }

    /// `repository`: reachable and initialized, and the same cluster as the primary (another
    /// cluster's, or pg_upgrade's new cluster, which `init --upgrade` takes on, is unhealthy).
    static func repository(_ inputs: CheckInputs, primary: PrimaryState?) -> CheckResult {
        var result: CheckResult
        switch inputs.repository {
        case let .opened(location, keyID, encryption, info):
            let encrypted = keyID.map { "encrypted (\(encryption), key id \($0))" } ?? "not encrypted"
            result = CheckResult(name: "repository", ok: true, detail: "\(location) reachable, initialized for server '\(inputs.server)' (system identifier \(info.systemIdentifier)), \(encrypted)")
        case let .notInitialized(server, location):
            result = CheckResult(name: "repository", ok: false, detail: "\(location) has no repository for server '\(server)'; HINT: run `pgbackup init`")
        case .failed(let reason):
            result = CheckResult(name: "repository", ok: false, detail: "unable to read the repository: \(reason)")
        }
        guard case let .opened(location, _, _, info) = inputs.repository else { return result }
        guard let primary, let system = primary.systemIdentifier else {
            result.detail += primary == nil
                ? "; not compared with the primary (none reachable)"
                : "; not compared with the primary (\(primary?.systemIdentifierProblem ?? "no system identifier"))"
            return result
        }
        guard info.systemIdentifier != system else {
            result.detail += ", the same as \(primary.server)"
            return result
        }
        let detail: String
        if let version = primary.versionNumber, info.isUpgrade(to: version) {
            // pg_upgrade's new cluster: say what to run (`init --upgrade`).
            let upgraded = RepositoryError.clusterUpgraded(
                server: inputs.server, location: location, host: primary.server,
                repository: info.systemIdentifier, repositoryVersion: info.postgresVersionNumber, cluster: system,
                clusterVersion: version)
            detail = "\(upgraded)".replacingOccurrences(of: "\nHINT:", with: "; HINT:")
        } else {
            detail = "the repository belongs to system identifier \(info.systemIdentifier) (PostgreSQL \(info.postgresMajor)) but \(primary.server) is \(system)\(primary.versionNumber.map { " (PostgreSQL \(PostgresVersion.major(of: $0)))" } ?? ""): a different cluster; HINT: PGBACKUP_REPO or PGBACKUP_SERVER names another cluster's repository: point the configuration at this cluster's own"
        }
        return CheckResult(name: "repository", ok: false, detail: detail)
    }

    /// `primary`: a primary answered (not in recovery), its system identifier readable and the
    /// repository's, and no other primary (the split-brain alert).
    static func primary(_ inputs: CheckInputs, primary: PrimaryState?) -> CheckResult {
        let info = inputs.repository.info
        guard let primary else {
            guard case .failed(let reason) = inputs.primary else { preconditionFailure("a measured primary has a state") }
            let conninfo = inputs.conninfo ?? "not set"
            if reason.contains(": standby on timeline") {
                // Standbys answered, no primary: a failover in progress, or the primary is not listed.
                return CheckResult(name: "primary", ok: false, detail: "no primary reachable: only standbys answered, no primary was found: \(reason); HINT: list the current primary in PGBACKUP_CONNINFO (\(conninfo))")
            }
            let hint = reason.contains("HINT") ? "" : "; HINT: check that the server runs and PGBACKUP_CONNINFO (\(conninfo))"
            return CheckResult(name: "primary", ok: false, detail: "no primary reachable: \(reason)\(hint)")
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
        if case .measured(let found) = inputs.primary, let alert = found.splitBrain {
            return CheckResult(name: "primary", ok: false, detail: alert)
        }
        return CheckResult(name: "primary", ok: true, detail: "\(primary.server) is a primary (not in recovery), system identifier \(system), WAL at \(primary.currentLSN?.description ?? "?")")
    }

    /// `slot`, measured on the primary only.
    static func slot(name: String, primary: PrimaryState?, thresholds: CheckThresholds) -> CheckResult {
        guard let primary, !primary.inRecovery else {
            return CheckResult(name: "slot", ok: false, detail: "replication slot '\(name)' not checked: no primary reachable")
        }
        return CheckRules.slot(
            name: name, active: primary.slot?.active, restartLSN: primary.slot?.restartLSN,
            currentLSN: primary.currentLSN, maxRetained: thresholds.slotRetainedMax,
            invalidation: primary.slot?.invalidation, inactiveSince: primary.slot?.inactiveSince)
    }

    /// `wal` and `continuity`: one survey of the archive.
    static func walAndContinuity(
        _ archive: CheckInputs.Measured<CheckInputs.Archive>, primary: PrimaryState?, policy: Policy?, thresholds: CheckThresholds
    ) -> [CheckResult] {
        guard case .measured(let archive) = archive else {
            guard case .failed(let reason) = archive else { return [] }
            let detail = "unable to read the WAL archive: \(reason)"
            return [CheckResult(name: "wal", ok: false, detail: detail), CheckResult(name: "continuity", ok: false, detail: detail)]
        }
        let walResult: CheckResult
        if let primary, let current = primary.currentLSN {
            walResult = CheckRules.wal(
                currentLSN: current, archiveEnd: archive.end, serverNow: primary.now, newestArchivedTime: archive.newestTime,
                maxAge: thresholds.walMaxAge, segmentSize: archive.segmentSize.bytes)
        } else {
            walResult = CheckResult(name: "wal", ok: false, detail: "not measured: no primary to compare with (see the primary check); the archive ends at \(archive.end?.description ?? "nothing")\(archive.newestTime.map { ", newest WAL from \(CheckRules.timestamp($0))" } ?? "")")
        }
        let continuity = CheckContinuity(
            backups: archive.backups, wal: policy?.retention?.wal ?? .pitr, continuity: archive.continuity, histories: archive.histories,
            gaps: archive.gaps)
        return [walResult, continuity.result()]
    }

    /// `backup_age`, `backup_checksums` and `redundancy`; `policyName` names the policy whose
    /// `minimum_redundancy` sets the minimum.
    static func backups(
        _ backups: CheckInputs.Measured<CheckInputs.Backups>, now: Date, policy: Policy?, policyName: String?, thresholds: CheckThresholds
    ) -> [CheckResult] {
        switch backups {
        case .measured(let found):
            return [
                CheckRules.backupAge(newestStop: found.newestStop, newestID: found.newestID, now: now, maxAge: thresholds.backupMaxAge),
                CheckRules.backupChecksums(newestID: found.newestID, failures: found.newestChecksumFailures),
                CheckRules.redundancy(complete: found.complete, minimum: thresholds.minimumBackups, policy: policy?.retention?.minimumRedundancy == nil ? nil : policyName),
            ]
        case .failed(let reason):
            let detail = "unable to list the backups: \(reason)"
            return ["backup_age", "backup_checksums", "redundancy"].map { CheckResult(name: $0, ok: false, detail: detail) }
        }
    }
}
