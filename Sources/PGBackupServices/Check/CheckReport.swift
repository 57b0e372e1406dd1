import Foundation
import PGBackupRepository

/// One check of `pgbackup check`: a stable name, its result, and a one-line detail an operator
/// can act on (with a HINT when there is something to do). The same `{name, ok, detail}` a
/// verification record stores for each of its checks.
public typealias CheckResult = VerificationRecord.Check

/// What `pgbackup check --json` prints: `{"healthy": bool, "checks": [{"name", "ok", "detail"}]}`
/// (DESIGN.md, "Checks and verification").
public struct CheckReport: Codable, Sendable, Hashable {
    public var healthy: Bool
    public var checks: [CheckResult]
    public init(checks: [CheckResult]) {
        self.checks = checks
        self.healthy = checks.allSatisfy(\.ok)
    }
}
