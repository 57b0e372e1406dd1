import ArgumentParser
import PGBackupFoundations
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

            After pg_upgrade, the cluster has a new system identifier and major version, and the \
            repository refuses it. --upgrade begins the new cluster's history in the same \
            repository (under <server>@<system identifier>/, recorded in <server>/upgrades/): \
            the daemon, backup, wal-push and check then work on the new cluster, while every \
            older backup stays listed, verifiable and restorable (with its own major's server \
            binaries), and retention counts backups across both. Take a backup at once after it. \
            Refused when the repository already belongs to this cluster or the server's major is \
            older than the repository's.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "After pg_upgrade: begin the upgraded cluster's history in this repository.")
    var upgrade = false

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "init")
        let result = try await InitService(settings: settings, logger: logger).run(upgrade: upgrade)
        if json {
            try printJSON(result)
        } else {
            if let record = result.upgrade {
                print("""
                    began a new history of server '\(result.server)' in \(result.repository) after a major upgrade: \
                    system \(record.previousSystemIdentifier) (PostgreSQL \(PostgresVersion.major(of: record.previousPostgresVersionNumber))) → \
                    system \(record.systemIdentifier) (PostgreSQL \(PostgresVersion.major(of: record.postgresVersionNumber))), under \(record.root)/
                    the older backups stay listed and restorable; take a backup of the upgraded cluster now: `pgbackup backup`
                    """)
            }
            print("""
                \(result.created ? "initialized" : "already initialized"): server '\(result.server)' in \(result.repository)
                system identifier: \(result.systemIdentifier)
                PostgreSQL: \(result.postgresVersion), timeline \(result.timeline), WAL at \(result.walPosition), \(result.walSegmentSize.bytes >> 20) MiB segments
                encryption: \(result.keyID.map { "\(result.encryption), key id \($0)" } ?? "none")
                """)
        }
    }
}
