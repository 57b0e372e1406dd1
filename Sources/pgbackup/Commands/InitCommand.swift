import ArgumentParser
import PGBackupServices

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create the repository for the server.",
        discussion: """
            Connects to the primary over the replication protocol (PGBACKUP_CONNINFO), reads its \
            system identifier, and writes <server>/repository.json in the repository \
            (PGBACKUP_REPO). A file:// repository directory is created if missing.

            Idempotent: running it again for the same cluster changes nothing. A repository that \
            belongs to another cluster (another system identifier) is refused.

            With a key file (PGBACKUP_ENCRYPTION_KEY_FILE or encryption.key_file), a new \
            repository is encrypted: a random data key, wrapped by the key file's key, is stored \
            in repository.json with the key's id. A repository stays what it was created as: a \
            key for a plaintext repository, or no key or another key for an encrypted one, is \
            refused (exit 1).
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "init")
        let result = try await InitService(settings: settings, logger: logger).run()
        if json {
            try printJSON(result)
        } else {
            print("""
                \(result.created ? "initialized" : "already initialized"): server '\(result.server)' in \(result.repository)
                system identifier: \(result.systemIdentifier)
                PostgreSQL: \(result.postgresVersion), timeline \(result.timeline), WAL at \(result.walPosition), \(result.walSegmentSize >> 20) MiB segments
                encryption: \(result.keyID.map { "\(result.encryption), key id \($0)" } ?? "none")
                """)
        }
    }
}
