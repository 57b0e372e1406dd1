/// This build's version, printed by `pgbackup --version` and recorded in repository documents.
public enum PGBackupVersion {
    public static let current = "0.1.0-dev"
}
