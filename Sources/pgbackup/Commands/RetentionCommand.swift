import ArgumentParser
import PGBackupRepository
import PGBackupServices

struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention",
        abstract: "Apply (or, with --dry-run, show) the retention policy.",
        discussion: """
            Keeps the backups the policy's rules keep (PGBACKUP_POLICY; no policy keeps \
            everything), pinned backups always, and says which rule keeps each. Removes the \
            others (backup.json first, then the backup's own objects), then the WAL no kept \
            backup needs (never a .history file) and stale partial segments, then, holding the \
            backup lock, the leftovers of backups that never completed and the chunks no \
            remaining backup references. While a backup runs, the chunk sweep and the leftovers \
            wait for the next run (the report says so; the exit status is 0). A backup that \
            starts during the sweep waits for it. --dry-run prints the same plan and what it \
            would free, removes nothing and takes no lock.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Show the plan and what it would free; remove nothing.")
    var dryRun = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "retention")
        let report = try await RetentionService(settings: settings, logger: logger).run(dryRun: dryRun)
        if json {
            try printJSON(report)
            return
        }
        print(Self.text(report))
    }

    static func text(_ report: RetentionReport) -> String {
        var lines: [String] = []
        if report.dryRun { lines.append("dry run: nothing was removed") }
        lines.append("policy: \(report.policy ?? "none (every backup is kept)")")
        var rows: [(id: BackupID, row: [String])] = report.kept.map { kept in
            (kept.id, [kept.id.description, "kept", kept.reasons.map(\.rawValue).joined(separator: ", ")])
        }
        rows += report.removed.map { ($0.id, [$0.id.description, report.dryRun ? "would be removed" : "removed", "-"]) }
        rows += report.damaged.map { ($0.id, [$0.id.description, "kept (damaged)", $0.problem]) }
        if rows.isEmpty {
            lines.append("no backups")
        } else {
            lines.append(Formatting.table([["BACKUP", "RESULT", "REASONS"]] + rows.sorted { $0.id < $1.id }.map(\.row)))
        }
        let verb = report.dryRun ? "would remove" : "removed"
        let segments = report.wal.reduce(0) { $0 + $1.count }
        let ranges = report.wal.map { "timeline \($0.timeline.rawValue) \($0.first == $0.last ? $0.first : "\($0.first)…\($0.last)")" }
            .joined(separator: ", ")
        lines.append("WAL: \(verb) \(segments) segment\(segments == 1 ? "" : "s")" + (ranges.isEmpty ? "" : " (\(ranges))")
            + (report.partials > 0 ? " and \(report.partials) stale partial segments" : ""))
        lines.append("chunks: \(verb) \(report.chunks.removed) (\(Formatting.bytes(report.chunks.bytesFreed)))"
            + (report.leftovers.isEmpty ? "" : "; leftovers of \(report.leftovers.count) incomplete backups: \(report.leftovers.map(\.description).joined(separator: ", "))"))
        let own = report.removed.reduce(Int64(0)) { $0 + $1.bytes }
        lines.append((report.dryRun ? "bytes that would be freed: " : "bytes freed: ") + Formatting.bytes(report.bytesFreed)
            + " (backups' own objects \(Formatting.bytes(own)), WAL \(Formatting.bytes(report.walBytesFreed)), chunks \(Formatting.bytes(report.chunks.bytesFreed)))")
        if report.sweep != "done" && report.sweep != "dry-run" { lines.append("chunk sweep \(report.sweep)") }
        return lines.joined(separator: "\n")
    }
}
