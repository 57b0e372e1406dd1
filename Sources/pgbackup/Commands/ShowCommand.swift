import ArgumentParser
import PGBackupRepository
import PGBackupServices

struct ShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show one backup in full.",
        discussion: """
            With --json, the whole backup.json document, every file and chunk included, plus \
            `walGaps`: the gaps recorded in the WAL archive after the backup's start, which \
            point-in-time recovery from it cannot cross (also listed after the text output).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The backup id, as `pgbackup list` prints it.", valueName: "id"))
    var id: String

    @Flag(help: "Print the backup's manifest as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        _ = global.logger(for: settings, label: "show")
        let listing = BackupListing(settings: settings)
        let manifest = try await listing.show(id)
        let gaps = BackupListing.gaps(try await listing.gapsByHistory(), of: BackupSummary(manifest))
        let verification = await listing.lastVerifications()[manifest.id]
        if json {
            try printJSON(WithWALGaps(manifest, walGaps: gaps, lastVerification: verification))
            return
        }
        defer { printGaps(gaps) }
        let summary = BackupSummary(manifest)
        let totals = manifest.totals
        let files = manifest.files.filter { $0.type == .file }
        var rows: [[String]] = [
            ["id:", manifest.id.description],
            ["status:", summary.status.rawValue],
            ["checksum failures:", manifest.checksumFailures.map {
                "\($0.summary); the pages are in the backup as the server read them (damaged)"
            } ?? "none reported by the server"],
            ["label:", manifest.label],
            ["server:", "\(manifest.server) (system \(manifest.systemIdentifier), PostgreSQL \(manifest.postgresVersionNumber / 10000).\(manifest.postgresVersionNumber % 10000))"],
            ["timeline:", "\(manifest.timeline.rawValue)"],
            ["start:", "\(manifest.startLSN) at \(Formatting.time(manifest.startTime))"],
            ["stop:", "\(manifest.stopLSN) at \(Formatting.time(manifest.stopTime)) (restorable from here on)"],
            ["WAL needed:", "\(manifest.wal.start) to \(manifest.wal.stop)"],
            ["duration:", Formatting.duration(manifest.durationSeconds)],
            ["database size:", "\(Formatting.bytes(totals.databaseSize)) in \(files.count) files"],
            ["stored new:", "\(Formatting.bytes(totals.storedNew)) in \(totals.newChunks) chunks"],
            ["deduplicated:", "\(Formatting.bytes(totals.storedDeduplicated)) in \(totals.deduplicatedChunks) chunks"],
            ["compression:", manifest.compression.description],
            ["encryption:", manifest.encryption],
            ["pinned:", manifest.pin.map { "yes (\($0.rawValue))" } ?? "no"],
            ["last verified:", verification.map(Formatting.verification) ?? "never (pgbackup verify-restore)"],
        ]
        if let server = manifest.serverManifest {
            rows.append(["backup_manifest:", "\(server.key) (\(Formatting.bytes(server.size)))"])
        }
        for space in manifest.tablespaces {
            rows.append(["tablespace:", "\(space.oid) at \(space.location)"])
        }
        print(Formatting.table(rows))
    }
}
