import ArgumentParser
import PGBackupServices

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check the backup's health: configuration, repository, primary, slot, WAL, backups, verification.",
        discussion: """
            Runs every check and prints each with its result and a one-line detail: \
            configuration (valid; the policy), repository (reachable, initialized, of this \
            cluster), primary (reachable through PGBACKUP_CONNINFO, not in recovery, the \
            repository's system identifier; with several hosts, the read-write one, each tried \
            with connect_timeout=5 unless set), slot (PGBACKUP_SLOT exists, not invalidated by the server; WAL it retains), wal \
            (bytes and seconds the archive is behind the server; caught up is healthy however \
            old), continuity (WAL from the oldest backup to the archive's end along the timeline \
            history, holes retention made on purpose aside; recorded gaps, with the slot \
            invalidation behind them and the backup after them), backup_age, \
            backup_checksums (the newest backup holds no page whose checksum the server found \
            wrong; else it names the files and page counts), redundancy (complete backups against the policy's minimum_redundancy, else 1) and \
            verification (the newest verify-restore; never is healthy but says so).

            Thresholds come from the policy's alerts (PGBACKUP_POLICY); without a policy, or for \
            what it leaves out: backup_max_age 26h, wal_max_age 5m, slot_retained_max 2GiB.

            --json prints {"healthy": bool, "checks": [{"name", "ok", "detail"}]}. Exit 0 when \
            every check is healthy, 1 when any is not, 2 for a configuration error.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "check")
        let report = try await CheckService(settings: settings, logger: logger).run()
        if json {
            try printJSON(report)
        } else {
            let rows = report.checks.map { [$0.name, $0.ok ? "ok" : "UNHEALTHY", $0.detail] }
            print(Formatting.table([["CHECK", "RESULT", "DETAIL"]] + rows))
            print(report.healthy ? "healthy" : "unhealthy: \(report.checks.filter { !$0.ok }.map(\.name).joined(separator: ", "))")
        }
        if !report.healthy { throw ExitCode(ExitStatus.failure) }
    }
}
