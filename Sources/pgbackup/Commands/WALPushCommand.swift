import ArgumentParser
import PGBackupServices

struct WALPushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-push",
        abstract: "Archive a WAL file (for archive_command).",
        discussion: """
            Stores one file of pg_wal in the repository: a segment, a timeline history file, a \
            backup history file or a .partial segment, compressed (PGBACKUP_COMPRESSION) and \
            sealed with the SHA-256 of its content. Set in postgresql.conf:

              archive_command = 'pgbackup wal-push --config /etc/pgbackup/pgbackup.yaml %p'

            Pushing a file that is already archived with identical content succeeds, so \
            PostgreSQL may retry. A different file under an archived name fails (exit 1) and \
            changes nothing. The repository must exist (`pgbackup init`).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The file to archive (%p).", valueName: "path"))
    var path: String

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "wal-push")
        _ = try await WALPushService(settings: settings, logger: logger).run(path: path)
    }
}
