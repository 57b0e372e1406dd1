import Foundation
import PGBackupFoundations
import PGBackupRepository
import PGBackupStorage
import Testing
@testable import PGBackupServices

/// Which WAL objects retention removes, from a listing.
@Suite("WAL expiry")
struct WALExpiryTests {
    let layout = WALArchiveLayout(prefix: "main/wal/")
    let size = try! WALSegmentSize(megabytes: 1)

    func segment(_ number: UInt64, timeline: UInt32 = 1) -> WALSegmentName {
        WALSegmentName(timeline: TimelineID(timeline), segmentNumber: number, segmentSize: size)
    }

    func info(_ entry: WALArchiveEntry) -> ObjectInfo {
        ObjectInfo(key: layout.key(of: entry), size: 100, modified: Date())
    }

    @Test
    func removesThePlannedSegmentsInEveryCompressionWithTheirTimesAndStalePartialsOnly() {
        let listing = [
            info(.segment(segment(3), .zstd)), info(.segment(segment(3), .gzip)), info(.serverTimes(segment(3), partial: false)),
            info(.backupHistory(segment(4), offset: 40)), info(.segment(segment(4), .zstd)),
            info(.segment(segment(5), .zstd)), info(.segment(segment(6), .zstd)),
            info(.history(TimelineID(2))), info(.segment(segment(6, timeline: 2), .zstd)),
            // A partial of a completed segment, one older than the oldest kept backup, and the live one.
            info(.partial(segment(5), .zstd)), info(.serverTimes(segment(5), partial: true)),
            info(.partial(segment(2), .zstd)),
            info(.partial(segment(7, timeline: 2), .zstd)), info(.serverTimes(segment(7, timeline: 2), partial: true)),
            ObjectInfo(key: "main/wal/gaps/000000010000000000000001-000000010000000000000002.json", size: 10, modified: Date()),
        ]
        let expiry = WALExpiry(
            listing: listing, layout: layout, segmentSize: size,
            removals: [WALSegmentRange(first: segment(3), last: segment(4))], oldestKeptStart: segment(5).startLSN)
        #expect(Set(expiry.segmentObjects.map(\.key)) == Set([
            layout.key(of: .segment(segment(3), .zstd)), layout.key(of: .segment(segment(3), .gzip)),
            layout.key(of: .serverTimes(segment(3), partial: false)), layout.key(of: .segment(segment(4), .zstd)),
        ]))
        #expect(expiry.stalePartials == [segment(5), segment(2)])
        #expect(Set(expiry.partialObjects.map(\.key)) == Set([
            layout.key(of: .partial(segment(5), .zstd)), layout.key(of: .serverTimes(segment(5), partial: true)),
            layout.key(of: .partial(segment(2), .zstd)),
        ]))
        #expect(expiry.bytes == 700)
    }

    @Test
    func withoutKeptBackupsOnlyPartialsOfCompletedSegmentsAreStale() {
        let listing = [info(.partial(segment(2), .zstd)), info(.partial(segment(3), .zstd)), info(.segment(segment(3), .zstd))]
        let expiry = WALExpiry(listing: listing, layout: layout, segmentSize: size, removals: [], oldestKeptStart: nil)
        #expect(expiry.stalePartials == [segment(3)] && expiry.segmentObjects.isEmpty)
    }
}
