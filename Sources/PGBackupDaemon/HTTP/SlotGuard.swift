import Foundation
import Logging
import PGBackupFoundations
import PGBackupServices
import Synchronization

/// WAL pile-up protection: measures how much WAL the primary holds for the daemon's slot and,
/// past the policy's `alerts.slot_retained_max`, says so in the log (once per episode) and —
/// with `alerts.slot_retained_drop: true` — asks the streamer to drop the slot, so that the
/// primary's disk does not fill while the repository takes no WAL.
final class SlotGuard: Sendable {
    let settings: Settings
    let streamer: WALStreamer
    let logger: Logger
    /// Whether the current episode (retained above the limit) was already reported.
    private let overLimit = Mutex(false)

    init(settings: Settings, streamer: WALStreamer, logger: Logger) {
        self.settings = settings
        self.streamer = streamer
        self.logger = logger
    }

    /// The bytes of WAL the slot holds on the primary streamed from (nil when unknown: no
    /// primary yet, or no slot), acting on the limit.
    func inspect() async -> Int64? {
        guard let server = streamer.streamingServer, let conninfo = settings.conninfo?.value else { return nil }
        let state: PrimaryState
        do {
            state = try await PrimaryProbe.probe(
                conninfo: conninfo, slot: settings.slot,
                overriding: PrimaryLocator.overrides(server, conninfo: conninfo, environment: ProcessInfo.processInfo.environment))
        } catch {
            return nil
        }
        guard !state.inRecovery, let current = state.currentLSN, let restart = state.slot?.restartLSN else {
            overLimit.withLock { $0 = false }
            return nil
        }
        let retained = current > restart ? Int64(current - restart) : 0
        let alerts = (try? settings.loadPolicy())??.alerts
        let limit = alerts?.slotRetainedMax ?? CheckThresholds.defaultSlotRetainedMax
        guard retained > limit else {
            overLimit.withLock { $0 = false }
            return retained
        }
        let drop = alerts?.slotRetainedDrop ?? false
        let firstTime = overLimit.withLock { was in
            defer { was = true }
            return !was
        }
        if firstTime {
            let archived = streamer.status.archived.map { "\($0)" } ?? "nothing yet"
            logger.error(
                "the primary \(server) holds \(retained) bytes of WAL for replication slot '\(settings.slot)', more than alerts.slot_retained_max (\(limit)): the repository is not taking WAL (it holds it up to \(archived)); \(drop ? "dropping the slot (slot_retained_drop: true)" : "HINT: make the repository reachable again (see /health and `pgbackup check`); if the primary's disk runs short first, drop the slot with SELECT pg_drop_replication_slot('\(settings.slot)') and take a base backup afterwards, or set alerts.slot_retained_drop: true in the policy")",
                metadata: ["server": "\(server)", "slot": "\(settings.slot)", "retained_bytes": "\(retained)", "limit_bytes": "\(limit)"])
        }
        if drop, !streamer.slotDropPending {
            overLimit.withLock { $0 = false }  // a new slot starts a new episode
            streamer.requestSlotDrop()
        }
        return retained
    }
}
