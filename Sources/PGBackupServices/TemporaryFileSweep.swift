import Logging
import PGBackupStorage

/// Removes what writers that died mid-put left in a file:// repository: their temporary files
/// (`FileObjectStore.removeAbandonedTemporaryFiles`, which never touches a live writer's, in
/// this process or another). They take space but never block a put. The daemon and `backup`
/// run it as they start, beside their work: it walks the whole repository. S3 has no
/// equivalent here (an interrupted multipart upload is the bucket lifecycle rule's to expire).
public enum TemporaryFileSweep {
    /// Sweeps the repository `settings` names; logs what it removed, and a failure as a warning
    /// (never thrown: the command's own work reports an unusable repository).
    public static func run(_ settings: Settings, logger: Logger) async {
        guard let store = try? StoreFactory.open(settings) as? FileObjectStore else { return }
        do {
            let removed = try await store.removeAbandonedTemporaryFiles()
            if removed > 0 {
                logger.info("removed temporary files that interrupted writers left behind", metadata: ["count": "\(removed)", "repository": "\(store.location)"])
            }
        } catch {
            logger.warning("unable to remove abandoned temporary files", metadata: ["error": "\(error)"])
        }
    }
}
