import PGBackupRepository

extension Formatting {
    /// A backup's last verification for `list` and `show`: `ok 2026-11-22 10:15:03+00`, or
    /// `failed …`.
    static func verification(_ record: VerificationRecord) -> String {
        "\(record.ok ? "ok" : "failed") \(time(record.startedAt))"
    }
}
