import Logging
import PGBackupServices
import ServiceLifecycle

/// The WAL streamer as a service of the daemon's group: graceful shutdown asks it to stop
/// (partial segment stored, final status sent), and with it the backup after a gap.
struct StreamerService: Service {
    let streamer: WALStreamer
    let backupAfterGap: BackupAfterGap
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            do {
                try await streamer.run()
            } catch {
                backupAfterGap.stop()
                await backupAfterGap.waitUntilIdle()
                throw error
            }
            await backupAfterGap.waitUntilIdle()
        } onGracefulShutdown: {
            logger.info("stopping: graceful shutdown requested")
            streamer.requestStop()
            backupAfterGap.stop()
        }
    }
}
