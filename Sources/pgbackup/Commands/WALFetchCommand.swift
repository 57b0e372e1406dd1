import ArgumentParser
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices

struct WALFetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wal-fetch",
        abstract: "Restore a WAL file from the repository (for restore_command).",
        discussion: """
            Writes the archived file NAME to DEST, verified against its SHA-256 seal and \
            atomically: a damaged object fails (exit 1) and leaves DEST untouched. A segment the \
            repository only holds as a partial copy is served zero-padded to the segment size. \
            Set in the restored server's configuration:

              restore_command = 'pgbackup wal-fetch --config /etc/pgbackup/pgbackup.yaml %f %p'

            A file the repository does not hold exits 1 without a message (PostgreSQL asks for \
            files that may not exist, such as the next timeline's history file); \
            --log-level debug shows it.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: ArgumentHelp(
        "Fetch from the history of this cluster (restore writes it for a backup taken before `init --upgrade`); default: the current cluster's.",
        valueName: "id"))
    var systemIdentifier: SystemIdentifier?

    @Argument(help: ArgumentHelp("The WAL file name (%f).", valueName: "name"))
    var name: String

    @Argument(help: ArgumentHelp("Where to write it (%p).", valueName: "dest"))
    var destination: String

    func run() async throws {
        // Not refused here: what wal-fetch reads is the same with or without them, while any
        // failure of restore_command tells PostgreSQL "no such file", which can end a recovery
        // early. Every other command refuses them.
        let settings = try global.settings(refusingUnimplemented: false)
        let logger = global.logger(for: settings, label: "wal-fetch")
        do {
            try await WALFetchService(settings: settings, logger: logger).run(name: name, destination: destination, systemIdentifier: systemIdentifier)
        } catch WALArchiveError.notFound {
            logger.debug("not in the WAL archive", metadata: ["file": "\(name)"])
            throw ExitCode(ExitStatus.failure)
        }
    }
}

/// `--system-identifier 7301234567890123456`: decimal digits, refused otherwise before anything runs.
extension SystemIdentifier: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}
