import ArgumentParser
import PGBackupServices

/// `pgbackup key …`: the repository's encryption key.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "Manage the encryption key of an encrypted repository.",
        subcommands: [KeyRotateCommand.self]
    )
}

struct KeyRotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Rewrap the repository's data key under a new key file.",
        discussion: """
            The configured key (PGBACKUP_ENCRYPTION_KEY_FILE or encryption.key_file) must open \
            the repository. The repository's data key is rewrapped under the key of FILE and \
            repository.json is rewritten in one atomic put; no other object changes. Afterwards \
            only the new key opens the repository: point the configuration at the new file \
            (every host, the daemon, restore_command configurations) before the old file is \
            destroyed. The same key again changes nothing (exit 0). A key file that cannot be used \
            exits 2; a key that does not open the repository exits 1.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The new key file (32 random bytes: raw, hex or base64; not accessible by others).", valueName: "file"))
    var newKeyFile: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    func run() async throws {
        let settings = try global.settings()
        let logger = global.logger(for: settings, label: "key")
        let result = try await KeyRotationService(settings: settings).run(newKeyFile: newKeyFile)
        logger.info(result.changed ? "repository key rotated" : "the new key is the current key: nothing changed", metadata: [
            "old_key_id": "\(result.oldKeyID)", "new_key_id": "\(result.newKeyID)",
        ])
        if json {
            try printJSON(result)
        } else if result.changed {
            print("""
                rotated: server '\(result.server)' in \(result.repository)
                old key id: \(result.oldKeyID) (no longer opens the repository)
                new key id: \(result.newKeyID)
                """)
        } else {
            print("unchanged: server '\(result.server)' in \(result.repository) is already wrapped by key id \(result.newKeyID)")
        }
    }
}
