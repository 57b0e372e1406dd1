import ArgumentParser
import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices

struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Take a base backup now; prints the backup id.",
        discussion: """
            Runs BASE_BACKUP over a replication connection (PGBACKUP_CONNINFO) with a fast \
            checkpoint, cuts every file into 4 MiB chunks stored once by their SHA-256 (a chunk \
            that an earlier backup stored is not stored again; small files are packed together), \
            compresses and stores them --jobs at a time, and streams the WAL from the backup's \
            start to its end into the repository through a temporary replication slot, so the \
            backup is restorable on its own. backup.json is written last: a backup that did not \
            complete does not exist, and the next backup removes its leftovers.

            One backup of a server runs at a time: a second one is refused while the first holds \
            the backup lock (a `pgbackup retention` holding it for its chunk sweep is waited for, up to 10 \
            minutes). The WAL is spooled under PGBACKUP_SPOOL while the backup runs.

            Standard output: the backup id (or, with --json, the backup's summary and, under \
            "phases", the seconds each phase of the backup took). Standard error: a final summary \
            line, and with --progress on a terminal, the progress; --log-level debug logs each \
            phase as it ends.

            With data checksums on, the server verifies every page it sends. Pages whose checksum \
            fails do not stop the backup: it is stored, complete and restorable, with those pages \
            as the server read them, and recorded with its checksum failures (`list` shows the \
            status checksum-failures, `show` the files, `check` fails). The id is printed all the \
            same, the files are named on standard error, and the exit status is 1.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Show bytes done, rate and time left on standard error (when it is a terminal).")
    var progress = false

    @Option(help: ArgumentHelp("Chunks compressed and stored at once (default: the number of cores).", valueName: "n"))
    var jobs: Int?

    @Option(help: ArgumentHelp("Backup label, written into backup_label (default: pgbackup <id>).", valueName: "text"))
    var label: String?

    @Option(help: ArgumentHelp("Local spool directory for the backup's WAL (default: $PGBACKUP_SPOOL, then /var/lib/pgbackup/spool).", valueName: "dir"))
    var spool: String?

    @Option(help: ArgumentHelp("Limit the server's sending rate, in kB/s (32 to 1048576), to spare its disks.", valueName: "kB/s"))
    var maxRate: Int?

    @Flag(help: "Print the backup's summary as JSON.")
    var json = false

    func validate() throws {
        if let jobs, !(1...256).contains(jobs) { throw ValidationError("--jobs must be between 1 and 256, not \(jobs)") }
        if let maxRate, !BackupOptions.maxRateRange.contains(maxRate) {
            throw ValidationError("--max-rate must be between \(BackupOptions.maxRateRange.lowerBound) and \(BackupOptions.maxRateRange.upperBound) kB/s, not \(maxRate)")
        }
    }

    func run() async throws {
        var settings = try global.settings()
        if let spool { settings.spoolDirectory = spool }
        let logger = global.logger(for: settings, label: "backup")
        var options = BackupOptions()
        if let jobs { options.jobs = jobs }
        options.label = label
        options.maxRateKilobytesPerSecond = maxRate
        let line = ProgressLine(requested: progress)
        options.onProgress = { line.show($0) }
        async let swept: Void = TemporaryFileSweep.run(settings, logger: logger)
        let (manifest, phases) = try await BackupService(settings: settings, logger: logger).runMeasured(options)
        await swept
        line.clear()

        let summary = BackupSummary(manifest)
        let totals = manifest.totals
        let rate = summary.durationSeconds > 0 ? Double(totals.databaseSize) / summary.durationSeconds : 0
        FileHandle.standardError.write(Data("""
            backup \(summary.id) complete: \(Formatting.bytes(totals.databaseSize)) in \(Formatting.duration(summary.durationSeconds)) \
            (\(Formatting.bytes(Int64(rate)))/s); stored \(Formatting.bytes(totals.storedNew)) new in \(totals.newChunks) chunks, \
            \(Formatting.bytes(totals.storedDeduplicated)) deduplicated in \(totals.deduplicatedChunks); \
            LSN \(summary.startLSN) to \(summary.stopLSN) on timeline \(summary.timeline)\n
            """.utf8))
        if json {
            try printJSON(SummaryWithPhases(summary: summary, phases: phases))
        } else {
            print(summary.id)
        }
        if let failures = manifest.checksumFailures {
            throw BackupError.checksumFailures(id: manifest.id, failures)
        }
    }
}

extension ProgressLine {
    func show(_ progress: BackupProgress) {
        switch progress.phase {
        case .checkpoint:
            show("waiting for the server's checkpoint")
        case .copying:
            show(Self.transfer(done: progress.bytesDone, total: progress.bytesTotal, seconds: progress.seconds))
        case .finishing:
            show(Self.transfer(done: progress.bytesDone, total: progress.bytesTotal, seconds: progress.seconds, showTimeLeft: false)
                + ", storing the last chunks and the WAL")
        }
    }
}

/// `--json` output: an object's own fields, plus `"phases"`: where its time went.
struct SummaryWithPhases<Summary: Encodable>: Encodable {
    let summary: Summary
    let phases: PhaseTimes

    private enum Key: String, CodingKey { case phases }

    func encode(to encoder: any Encoder) throws {
        try summary.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(phases, forKey: .phases)
    }
}
