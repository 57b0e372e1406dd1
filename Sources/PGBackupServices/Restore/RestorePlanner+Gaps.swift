import Foundation
import PGBackupFoundations
import PGBackupRepository

/// The restore planner and the gaps the daemon recorded (`WALGap`): a target inside one is
/// refused naming it, and a refusal for missing WAL says which recorded gap it is.
extension RestorePlanner {
    /// Refuses an LSN inside a recorded gap, or a time the WAL of a recorded gap may hold.
    func refuseTargetInsideARecordedGap(_ target: RestoreTarget) throws(RestoreRefusal) {
        let hint = "HINT: restore to a point before the gap, or from a backup taken after it (`pgbackup list` shows both)"
        switch target {
        case .lsn(let lsn):
            if let gap = recordedGaps.first(where: { $0.contains(lsn) }) {
                throw .missingWAL("target LSN \(lsn) lies inside a gap in the archived WAL: \(gap)\n\(hint)")
            }
        case .time(let time):
            if let gap = recordedGaps.first(where: { $0.mayContain(time) }) {
                throw .missingWAL("target \(RestoreTime.format(time)) may lie inside a gap in the archived WAL: \(gap)\n\(hint)")
            }
        default:
            break
        }
    }

    /// `" (recorded: WAL gap …)"` for the recorded gaps that overlap `missing`; "" for none.
    func recordedGapNote(for missing: [WALSegmentRange]) -> String {
        let recorded = recordedGaps.filter { gap in
            missing.contains { $0.startLSN < gap.endLSN && gap.startLSN < $0.endLSN }
        }
        return recorded.isEmpty ? "" : " (recorded: \(recorded.map(\.description).joined(separator: "; ")))"
    }
}
