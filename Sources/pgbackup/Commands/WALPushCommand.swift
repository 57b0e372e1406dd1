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
            PostgreSQL may retry. A file that conflicts with the repository's WAL history (a \
            different file under an archived name, or a segment past its timeline's end in an \
            archived .history file: a former primary archiving after a failover) is never \
            stored under its name: it is kept apart under wal/diverged/ with a record of this \
            host and data directory, one line on stderr says so, and the push succeeds (exit \
            0), so the former primary does not fill its disk. `pgbackup check` reports it. \
            The repository must exist (`pgbackup init`).
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
