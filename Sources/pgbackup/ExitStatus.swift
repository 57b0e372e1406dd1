import PGBackupServices
import PGBackupStorage

/// DESIGN.md's exit codes.
enum ExitStatus {
    static let success: Int32 = 0
    /// The operation failed, or a check is unhealthy.
    static let failure: Int32 = 1
    /// Usage or configuration error.
    static let usage: Int32 = 2

    /// Configuration and usage problems exit 2; everything else that went wrong exits 1.
    static func of(_ error: any Error) -> Int32 {
        switch error {
        case is ConfigurationError, is RepositoryLocationError, is ServiceError: usage
        case RestoreRefusal.invalidOption: usage
        default: failure
        }
    }
}
