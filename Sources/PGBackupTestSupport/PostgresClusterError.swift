/// Why the test harness could not give a test the PostgreSQL cluster it asked for. The description
/// always carries what an engineer needs to fix it: the failing step, the reason and, once a
/// server was started, the tail of its log.
public enum PostgresClusterError: Error, CustomStringConvertible {
    case binariesNotFound(searched: [String])
    case noUnprivilegedUser(name: String)
    case setupFailed(step: String, reason: String, logTail: String?)
    case commandFailed(step: String, result: ProcessResult, logTail: String?)
    case timedOut(waitingFor: String, after: Duration, lastError: String?, logTail: String?)
    case sqlFailed(statements: [String], result: ProcessResult)

    public var description: String {
        switch self {
        case let .binariesNotFound(searched):
            return "unable to find the PostgreSQL server binaries (initdb, pg_ctl); searched: "
                + searched.joined(separator: ", ")
                + "\nHINT: run scripts/install-postgres-majors (16, 18) or install postgresql-15, or set PGBACKUP_TEST_PGBIN "
                + "(PGBACKUP_TEST_PGBIN_<major>) to the directory holding initdb"
        case let .noUnprivilegedUser(name):
            return "unable to run PostgreSQL: the tests run as root, which PostgreSQL refuses, and there is no OS user '\(name)' to run it as"
                + "\nHINT: create the user (useradd --system \(name)) or set PGBACKUP_TEST_PGUSER to an existing unprivileged user"
        case let .setupFailed(step, reason, logTail):
            return "unable to \(step): \(reason)" + Self.log(logTail)
        case let .commandFailed(step, result, logTail):
            let how = result.terminatedBySignal ? "was killed by signal \(result.status)" : "exited with status \(result.status)"
            return "unable to \(step): '\(result.command)' \(how)"
                + Self.section("stdout", tail(result.standardOutput, lines: 20))
                + Self.section("stderr", tail(result.standardError, lines: 20))
                + Self.log(logTail)
        case let .timedOut(what, after, lastError, logTail):
            return "timed out after \(after) waiting for \(what)"
                + (lastError.map { "; last error: \($0)" } ?? "") + Self.log(logTail)
        case let .sqlFailed(statements, result):
            return "psql failed (status \(result.status)) running: "
                + statements.joined(separator: " ; ")
                + Self.section("stderr", tail(result.standardError, lines: 20))
        }
    }

    private static func section(_ title: String, _ text: String) -> String {
        text.isEmpty ? "" : "\n--- \(title) ---\n\(text)"
    }

    private static func log(_ logTail: String?) -> String {
        guard let logTail else { return "" }
        return "\n--- server log (tail) ---\n" + (logTail.isEmpty ? "(empty)" : logTail)
    }
}
