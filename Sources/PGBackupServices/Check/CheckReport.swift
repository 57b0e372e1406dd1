import Foundation

/// One check of `pgbackup check`: a stable name, its result, and a one-line detail an operator
/// can act on (with a HINT when there is something to do).
public struct CheckResult: Codable, Sendable, Hashable {
    public var name: String
    public var ok: Bool
    public var detail: String
    public init(name: String, ok: Bool, detail: String) {
        self.name = name
        self.ok = ok
        self.detail = detail
    }
}

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
