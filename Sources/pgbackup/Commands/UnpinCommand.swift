import ArgumentParser
import PGBackupRepository
import PGBackupServices

struct UnpinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpin",
        abstract: "Let the retention policy decide about a pinned backup again.",
        discussion: "Exits 1 when the backup is not pinned."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The backup id, as `pgbackup list` prints it.", valueName: "id"))
    var id: String

    @Flag(help: "Print what was done as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "unpin")
        let change = try await BackupPins(settings: settings).unpin(id)
        logger.info("backup unpinned", metadata: ["backup": "\(change.id)"])
        if json {
            try printJSON(change)
        } else {
            print("unpinned backup \(change.id) (it was pinned \(change.before?.rawValue ?? ""))")
        }
    }
}
