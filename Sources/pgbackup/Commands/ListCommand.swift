import ArgumentParser
import PGBackupRepository
import PGBackupServices

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the server's complete backups, oldest first.",
        discussion: """
            For each backup: id, status, timeline, start and stop LSN and time, database size, \
            stored size (new bytes, and bytes shared with earlier backups), compression and \
            duration. A backup that did not complete is never listed; one whose backup.json \
            cannot be read is listed as damaged; one in which the server found pages whose \
            checksum failed has the status checksum-failures (complete and restorable, with \
            those pages as the server read them; with --json, `checksumFailures` names the \
            files). Then the gaps recorded in the WAL archive (WAL \
            the server removed before the repository got it), which point-in-time recovery \
            cannot cross; with --json, each backup's `walGaps` lists those after its start.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the list as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        _ = global.logger(for: settings, label: "list")
        let listing = BackupListing(settings: settings)
        let entries = try await listing.entries()
        let gapsByHistory = try await listing.gapsByHistory()
        let gaps = gapsByHistory.flatMap(\.gaps)
        let verifications = await listing.lastVerifications()
        if json {
            try printJSON(entries.map { entry in
                guard case .complete(let backup) = entry else { return WithWALGaps(entry, walGaps: [], lastVerification: verifications[entry.id]) }
                return WithWALGaps(entry, walGaps: BackupListing.gaps(gapsByHistory, of: backup), lastVerification: verifications[entry.id])
            })
            return
        }
        defer { printGaps(gaps) }
        guard !entries.isEmpty else {
            print("no backups of server '\(settings.server)'")
            return
        }
        let header = ["ID", "STATUS", "PG", "TL", "START LSN", "STOP LSN", "START TIME", "STOP TIME", "SIZE", "NEW", "DEDUPLICATED", "COMPRESSION", "DURATION", "PIN", "VERIFIED"]
        var damaged: [DamagedBackup] = []
        let rows = entries.map { entry in
            guard case .complete(let backup) = entry else {
                if case .damaged(let backup) = entry { damaged.append(backup) }
                return [entry.id.description, "damaged"] + Array(repeating: "-", count: header.count - 2)
            }
            return [
                backup.id.description, backup.status.rawValue, "\(backup.postgresMajor)", "\(backup.timeline.rawValue)", backup.startLSN.description,
                backup.stopLSN.description, Formatting.time(backup.startTime), Formatting.time(backup.stopTime),
                Formatting.bytes(backup.databaseSize), Formatting.bytes(backup.storedNew), Formatting.bytes(backup.storedDeduplicated),
                backup.compression.description, Formatting.duration(backup.durationSeconds), backup.pin?.rawValue ?? "-",
                verifications[backup.id].map(Formatting.verification) ?? "-",
            ]
        }
        print(Formatting.table([header] + rows))
        for backup in damaged {
            print("backup \(backup.id) is damaged: \(backup.problem) (`pgbackup show \(backup.id)` explains)")
        }
        for case .complete(let backup) in entries {
            guard let failures = backup.checksumFailures else { continue }
            print("backup \(backup.id) has checksum failures: \(failures.summary) (restorable, with those pages as the server read them)")
        }
    }
}

/// The recorded WAL gaps, after a listing: what point-in-time recovery cannot cross.
func printGaps(_ gaps: [WALGap]) {
    guard !gaps.isEmpty else { return }
    print("\nWAL gaps (point-in-time recovery cannot cross them):")
    for gap in gaps { print("  \(gap)") }
}
