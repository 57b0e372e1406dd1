import ArgumentParser
import PGBackupRepository
import PGBackupServices

struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Keep a backup whatever the retention policy says.",
        discussion: """
            A pinned backup is never removed by `pgbackup retention`. Without --standalone, the \
            backup and all WAL after it stay (point-in-time recovery from it to the archive's \
            end); with --standalone, the backup and only its own WAL (restorable to its end). \
            Pinning again with the other kind changes the kind. `pgbackup unpin ID` undoes it.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The backup id, as `pgbackup list` prints it.", valueName: "id"))
    var id: String

    @Flag(help: "Keep only the backup's own WAL (start to stop), not the WAL after it.")
    var standalone = false

    @Flag(help: "Print what was done as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "pin")
        let change = try await BackupPins(settings: settings).pin(id, kind: standalone ? .standalone : .full)
        logger.info("backup pinned", metadata: ["backup": "\(change.id)", "pin": "\(change.after?.rawValue ?? "none")"])
        if json {
            try printJSON(change)
        } else if change.before == change.after {
            print("backup \(change.id) was pinned (\(change.after?.rawValue ?? "")) already")
        } else {
            print("pinned backup \(change.id) (\(change.after?.rawValue ?? ""))" + (change.before.map { "; it was pinned (\($0.rawValue))" } ?? ""))
        }
    }
}
