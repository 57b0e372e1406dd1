import ArgumentParser
import Foundation
import PGBackupServices

@main
struct PGBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pgbackup",
        abstract: "Backup and point-in-time recovery for PostgreSQL.",
        discussion: """
            pgbackup streams WAL from the primary over the replication protocol, takes base backups \
            over the same connection, and stores both in a repository: a local directory \
            (file:///path) or an S3-compatible bucket (s3://bucket/prefix).

            Settings come from the configuration file (--config, $PGBACKUP_CONFIG, then \
            /etc/pgbackup/pgbackup.yaml) and from the environment, which wins: PGBACKUP_REPO, \
            PGBACKUP_SERVER, PGBACKUP_CONNINFO, PGBACKUP_SLOT, PGBACKUP_COMPRESSION, PGBACKUP_POLICY, \
            PGBACKUP_S3_ENDPOINT, PGBACKUP_S3_REGION, PGBACKUP_S3_PATH_STYLE, PGBACKUP_S3_CREDENTIALS, \
            PGBACKUP_S3_SSE, PGBACKUP_S3_SSE_KMS_KEY_ID, PGBACKUP_ENCRYPTION_KEY_FILE, PGBACKUP_HTTP. \
            S3 credentials come from the AWS SDKs' chain and its standard variables: AWS_ACCESS_KEY_ID, \
            AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE; \
            AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE; AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
            or _FULL_URI; the EC2 instance metadata service (IMDSv2); AWS_ENDPOINT_URL_STS. \
            PGBACKUP_ENCRYPTION_KEY_FILE names the key file of client-side encryption (a key file \
            that cannot be used exits 2). PGBACKUP_POLICY names a policy of policies/ (looked up first in \
            $PGBACKUP_POLICY_DIR) or is a path; every command checks it.

            Exit codes: 0 success; 1 the operation failed or a check is unhealthy; 2 usage or \
            configuration error.
            """,
        version: PGBackupVersion.current,
        subcommands: [
            InitCommand.self, DaemonCommand.self, BackupCommand.self, ListCommand.self, ShowCommand.self, RestoreCommand.self,
            WALPushCommand.self, WALFetchCommand.self, PinCommand.self, UnpinCommand.self, RetentionCommand.self,
            CheckCommand.self, VerifyCommand.self, VerifyRestoreCommand.self, FollowCommand.self, KeyCommand.self,
        ]
    )

    /// Runs the command and maps every outcome to DESIGN.md's exit codes: 0 success, 1 the
    /// operation failed, 2 usage or configuration error.
    static func main() async {
        MallocTuning.apply()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            finish(with: error)
        }
        Foundation.exit(ExitStatus.success)
    }

    /// Prints what went wrong and exits with the status the error deserves.
    static func finish(with error: any Error) -> Never {
        if let exit = error as? ExitCode { Foundation.exit(exit.rawValue) }
        switch exitCode(for: error) {
        case .success:
            // --help and --version arrive as "errors" that print to standard output.
            exit(withError: error)
        case .validationFailure:
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(ExitStatus.usage)
        default:
            FileHandle.standardError.write(Data("pgbackup: error: \(error)\n".utf8))
            Foundation.exit(ExitStatus.of(error))
        }
    }
}
