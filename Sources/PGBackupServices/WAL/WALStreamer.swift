import Foundation
import Logging
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository
import PGBackupStorage
import Synchronization

/// How the daemon streams WAL.
public struct WALStreamerOptions: Sendable {
    /// Local spool directory; the server's part lives in `<spool>/<server>/`.
    public var spoolDirectory: String
    /// Status updates go out at least this often (and whenever the server asks).
    public var statusInterval: Duration = .seconds(10)
    /// The segment being written is stored in the repository this often (and when the stream
    /// goes quiet), bounding what losing the spool's disk can lose. Nil: only on a graceful stop.
    public var partialUploadInterval: Duration? = .seconds(10)
    /// Reports *write* after every fsync of the spool, for `synchronous_standby_names` with
    /// `synchronous_commit = remote_write` (RPO 0).
    public var synchronous = false
    /// Waits between reconnection attempts, the last one repeated.
    public var reconnectDelays: [Duration] = [.seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30)]
    /// While streaming, the other servers of the conninfo are asked this often whether one of
    /// them is a primary on a newer timeline (then the daemon moves to it at once).
    public var resurveyInterval: Duration = .seconds(10)
    /// How long a graceful stop waits for the repository to catch up before the session's last
    /// status update (the spool keeps the rest for the next run). The daemon sets it below its
    /// own shutdown bound: a session still waiting when the daemon's services are cancelled runs
    /// on a blocking thread that cancellation does not reach.
    public var finishTimeout: Duration = .seconds(60)
    /// Called once a recorded gap is stored in the repository (the daemon takes a backup).
    public var onGapRecorded: (@Sendable (WALGap) -> Void)?

    public init(spoolDirectory: String) { self.spoolDirectory = spoolDirectory }
}

/// Why streaming cannot go on at all (as opposed to a lost connection, which is retried).
public enum WALStreamError: Error, Sendable, CustomStringConvertible {
    case serverEndedStreaming(at: LSN)

    public var description: String {
        switch self {
        case let .serverEndedStreaming(at): "the server ended WAL streaming at \(at) without a timeline switch"
        }
    }
}

/// The daemon's WAL part: streams from the primary through a physical replication slot into the
/// spool, and from the spool into the repository, reporting *write* for the spool and *flush*
/// for the repository (see `StreamProgress`). Reconnects with capped backoff; follows timeline
/// switches; on `requestStop()` stores the partial segment and sends a final status.
public final class WALStreamer: Sendable {
    public let settings: Settings
    public let options: WALStreamerOptions
    public let logger: Logger
    /// Where `PG*` defaults and `PGCONNECT_TIMEOUT` come from for the server survey.
    let environment: [String: String]
    private let stopRequested = Atomic<Bool>(false)
    /// Set by the re-survey when another server is primary on a newer timeline.
    let primaryMoved = Atomic<Bool>(false)
    /// Split brains seen (two servers answering as primary), each pair of servers and timelines
    /// counted once; for the metrics.
    public let splitBrainsDetected = Atomic<Int>(0)
    let alertedSplitBrains = Mutex<Set<String>>([])
    private let currentServer = Mutex<ConninfoServer?>(nil)
    /// The timeline the last session wrote into the spool (its end is `progress.written`).
    let spooledTimeline = Mutex<TimelineID?>(nil)
    /// What `status` reports (WALStreamerStatus.swift).
    let live = Mutex(WALStreamerLive())
    /// Set by `requestSlotDrop()`; the run loop drops the slot between sessions.
    let slotDropRequested = Atomic<Bool>(false)

    public init(settings: Settings, options: WALStreamerOptions, logger: Logger,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.settings = settings
        self.options = options
        self.logger = logger
        self.environment = environment
    }

    /// The server streamed from last (the chosen primary); nil before the first session.
    public var streamingServer: ConninfoServer? { currentServer.withLock { $0 } }

    /// Asks `run()` to finish gracefully; safe from any thread (e.g. a signal handler's queue).
    public func requestStop() {
        stopRequested.store(true, ordering: .sequentiallyConsistent)
    }

    var isStopping: Bool { stopRequested.load(ordering: .sequentiallyConsistent) }

    /// Streams until `requestStop()`. Throws only for what retrying cannot fix: a repository that
    /// is missing or belongs to another cluster, an unusable spool.
    public func run() async throws {
        let conninfo = try settings.requireConninfo()
        let (repository, info) = try await RepositoryAccess.openReadingInfo(settings)
        let store = repository.store
        let segmentSize = info.walSegmentSize
        let archive = WALArchive(repository: repository, segmentSize: segmentSize, compression: settings.compression)
        let spoolDirectory = "\(options.spoolDirectory)/\(settings.server)"
        let spool = try WALSpool(directory: spoolDirectory, segmentSize: segmentSize)
        // A spool the daemon of the cluster before a pg_upgrade left: its WAL's names collide with
        // the upgraded cluster's, and it belongs to the older history, never to this one.
        do {
            let system = info.systemIdentifier
            for (file, found) in try spool.setAsideForeignWAL(systemIdentifier: system) {
                logger.error(
                    "the spool held WAL of database system \(found), not of this repository's \(system) (a spool from before pg_upgrade?): moved aside, not stored",
                    metadata: ["file": "\(file)", "into": "\(spoolDirectory)/foreign-\(found)"])
            }
        }

        let archivedEnd = try await archive.continuity().streamingResumePoint?.lsn ?? .zero
        let progress = SharedProgress(StreamProgress(start: archivedEnd, archived: archivedEnd))
        live.withLock { $0.progress = progress }
        let (jobs, queue) = AsyncStream.makeStream(of: UploadJob.self)
        var uploader = WALUploader(archive: archive, progress: progress, logger: logger)
        uploader.onGapRecorded = { [self] gap in
            live.withLock { $0.gapsRecorded += 1 }
            options.onGapRecorded?(gap)
        }
        uploader.onArchived = { [self] in noteArchived(segment: $0, times: $1) }
        uploader.source = { [self] in "WAL stream from \(streamingServer.map { "\($0)" } ?? "the daemon's primary")" }

        // Before anything else, and whether or not a server can be reached: the segments a
        // previous run completed but did not store, then its `.partial` tail. That WAL may have
        // been acknowledged as *written* to synchronous commits, and the primary may be gone.
        try await storeWhatAPreviousRunLeft(in: spool, uploader: uploader)
        // A partial copy the repository holds (this spool may be new, its predecessor lost) is
        // never replaced by the shorter copies a new stream makes while it catches up.
        if let resume = try await archive.continuity().streamingResumePoint {
            let segment = WALSegmentName(timeline: resume.timeline, containing: resume.lsn, segmentSize: segmentSize)
            if let length = try? await archive.partialLength(of: segment) {
                progress.update { $0.didStorePartial(segment, length: Int(length)) }
            }
        }

        async let uploading: Void = uploader.run(jobs)
        var attempt = 0
        let spoolBox = SendableBox(spool)
        while !isStopping {
            let sessionStart = ContinuousClock.now
            if slotDropRequested.exchange(false, ordering: .sequentiallyConsistent), let server = streamingServer {
                await dropSlot(on: server, conninfo: conninfo)
            }
            do {
                let continuity = try await archive.continuity()
                let primary = try await choosePrimary(conninfo: conninfo, info: info, location: store.location, continuity: continuity)
                currentServer.withLock { $0 = primary.server }
                let plan = SessionPlan(
                    conninfo: conninfo, slot: settings.slot, info: info, location: store.location, segmentSize: segmentSize,
                    server: primary.server, environment: environment,
                    archiveEnds: SessionPlan.resumeEnds(
                        archive: continuity.timelines.reduce(into: [:]) { ends, timeline in ends[timeline.timeline] = timeline.endOfArchive },
                        spooled: spooledTimeline.withLock { $0 }.map { ($0, progress.value.written) }),
                    heldHistories: Set(continuity.timelines.filter(\.hasHistoryFile).map(\.timeline)))
                primaryMoved.store(false, ordering: .sequentiallyConsistent)
                let watcher = Task { [self] in
                    await watchForNewerPrimary(primary, conninfo: conninfo, systemIdentifier: info.systemIdentifier)
                }
                defer { watcher.cancel() }
                try await BlockingIO.runLong { [self] in
                    try self.stream(plan, spool: spoolBox, progress: progress, queue: queue)
                }
                if primaryMoved.load(ordering: .sequentiallyConsistent) {
                    // A newer primary: the session ended cleanly; reconnect at once, no backoff.
                    try? await BlockingIO.run { [self] in self.queueSpoolTail(spoolBox.value, progress: progress, queue: queue) }
                    attempt = 0
                }
            } catch let error as RepositoryError {
                queue.finish()
                try await uploading
                throw error
            } catch {
                // The connection is gone, perhaps for good (the primary with it): the WAL
                // fsync'd in the spool goes to the repository now, not when a server answers.
                try? await BlockingIO.run { [self] in self.queueSpoolTail(spoolBox.value, progress: progress, queue: queue) }
                guard !isStopping else { break }
                if error is SlotDropRequested { continue }
                // A session that streamed for a while was a success: start the backoff anew.
                if ContinuousClock.now - sessionStart > .seconds(60) { attempt = 0 }
                let delay = options.reconnectDelays[min(attempt, options.reconnectDelays.count - 1)]
                attempt += 1
                if error is NoPrimaryError {
                    logger.error("\(error); reconnecting in \(delay)")
                } else {
                    logger.error("WAL streaming interrupted; reconnecting in \(delay)", metadata: ["error": "\(error)"])
                }
                try? await sleep(delay)
            }
        }
        queue.finish()
        try await uploading
        logger.info("WAL streaming stopped", metadata: ["archived": "\(progress.value.archived)"])
    }

    /// Stores the spool's completed segments, then its `.partial` files (each removed once the
    /// repository holds its bytes), retrying until done or asked to stop.
    private func storeWhatAPreviousRunLeft(in spool: WALSpool, uploader: WALUploader) async throws {
        let jobs = spool.pendingSegments().map { UploadJob.segment($0, path: spool.completedPath($0)) }
            + spool.partialFiles().map { UploadJob.spoolTail($0.segment, path: $0.path, length: $0.size) }
        for job in jobs {
            guard try await uploader.performRetrying(job, while: { !isStopping }) else { return }
        }
    }

    /// After a session ended: fsyncs and closes the spool's segment being written and queues
    /// its WAL for the repository as a partial copy (the file stays: the next session writes on).
    /// Runs on the spool's thread (the session is over).
    func queueSpoolTail(_ spool: WALSpool, progress: SharedProgress, queue: AsyncStream<UploadJob>.Continuation) {
        guard let segment = spool.currentSegment else { return }
        do {
            try spool.closeCurrent()
            progress.update { $0.didSyncSpool() }
        } catch {
            logger.error("unable to fsync the spool's partial segment \(segment.name)", metadata: ["error": "\(error)"])
        }
        let written = progress.value.written
        guard written > segment.startLSN else { return }
        queue.yield(.partial(segment, path: spool.partialPath(segment), length: Int(written - segment.startLSN), final: false))
    }

    /// Sleeps in short steps so a stop request is not kept waiting.
    private func sleep(_ duration: Duration) async throws {
        let deadline = ContinuousClock.now + duration
        while !isStopping && !slotDropRequested.load(ordering: .relaxed) && ContinuousClock.now < deadline {
            try await Task.sleep(for: min(.milliseconds(200), deadline - ContinuousClock.now))
        }
    }
}

extension WALContinuity {
    /// Where streaming resumes: the end of the newest timeline that holds any segment. A newer
    /// timeline with only its history file is reached by streaming on from there: the server
    /// ends the old timeline at the switch point and the stream follows it.
    var streamingResumePoint: (timeline: TimelineID, lsn: LSN)? {
        timelines.last { $0.endOfArchive != nil }.map { ($0.timeline, $0.endOfArchive!) }
    }
}

/// What one connection needs to know before it streams.
struct SessionPlan: Sendable {
    var conninfo: String
    var slot: String
    var info: RepositoryInfo
    /// The repository's location, for messages.
    var location: String
    var segmentSize: WALSegmentSize
    /// The chosen primary: the only server the session connects to.
    var server: ConninfoServer
    var environment: [String: String]
    /// Per timeline with completed segments: the position after its last contiguous run.
    var archiveEnds: [TimelineID: LSN]
    /// The timelines whose history file the repository holds.
    var heldHistories: Set<TimelineID>

    /// Where streaming starts: the repository's end, else the slot's restart point, else the
    /// server's current segment — always at a segment boundary.
    static func start(archiveEnd: (TimelineID, LSN)?, slot: (LSN, TimelineID?)?, server: (TimelineID, LSN),
                      segmentSize: WALSegmentSize) -> (timeline: TimelineID, lsn: LSN) {
        func boundary(_ lsn: LSN) -> LSN { lsn - segmentSize.offset(of: lsn) }
        if let (timeline, end) = archiveEnd { return (timeline, boundary(end)) }
        if let (restart, timeline) = slot, restart != .zero { return (timeline ?? server.0, boundary(restart)) }
        return (server.0, boundary(server.1))
    }
}

/// Hands the spool (used by one thread at a time: the current session's) into the blocking closure.
/// Safe because sessions run strictly one after another in `WALStreamer.run()`, each awaited
/// before the next starts (and the tail step after a failed session is awaited before the next
/// session too), so the spool is never touched by two threads at once.
struct SendableBox<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
