/// Why `verify-restore` could not even try beyond what `ServerToolError` says (a verification
/// that ran and failed is a `VerificationRecord` with `ok == false`, not an error).
public enum VerifyRestoreError: Error, Sendable, CustomStringConvertible, Equatable {
    /// Stopped by SIGTERM/SIGINT; the instance was stopped and its directory removed.
    case interrupted

    public var description: String {
        switch self {
        case .interrupted: "verify-restore interrupted by a signal: the instance was stopped and its directory removed"
        }
    }
}
