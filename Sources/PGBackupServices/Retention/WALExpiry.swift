import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage

/// Which WAL archive objects retention removes, from one listing of `wal/`. Pure.
///
/// - For each segment of the plan's `walRemovals`: every stored compression of it and its
///   `.times` record. Never a `.history` file, a backup history file, a recorded gap or a key
///   outside the layout.
/// - Stale partials (every compression and the `.partial.times` record): the partial of a
///   segment the archive now holds completed, or one that ends at or before `oldestKeptStart`
///   (no restore starts before the oldest kept backup's start).
struct WALExpiry {
    var segmentObjects: [ObjectInfo] = []
    var partialObjects: [ObjectInfo] = []
    var stalePartials: Set<WALSegmentName> = []

    init(listing: [ObjectInfo], layout: WALArchiveLayout, segmentSize: WALSegmentSize, removals: [WALSegmentRange], oldestKeptStart: LSN?) {
        var completed = Set<WALSegmentName>()
        for info in listing {
            if case .segment(let segment, _)? = layout.entry(forKey: info.key, segmentSize: segmentSize) { completed.insert(segment) }
        }
        func removed(_ segment: WALSegmentName) -> Bool { removals.contains { $0.contains(segment) } }
        func stale(_ segment: WALSegmentName) -> Bool {
            completed.contains(segment) || oldestKeptStart.map { segment.endLSN <= $0 } == true
        }
        for info in listing {
            switch layout.entry(forKey: info.key, segmentSize: segmentSize) {
            case .segment(let segment, _)?, .serverTimes(let segment, partial: false)?:
                if removed(segment) { segmentObjects.append(info) }
            case .partial(let segment, _)?, .serverTimes(let segment, partial: true)?:
                if stale(segment) {
                    partialObjects.append(info)
                    stalePartials.insert(segment)
                }
            default:
                continue
            }
        }
    }

    var bytes: Int64 { (segmentObjects + partialObjects).reduce(0) { $0 + $1.size } }
}
