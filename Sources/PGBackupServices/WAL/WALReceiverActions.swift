import PGBackupFoundations
import PGBackupPostgres

/// The I/O of a WAL receiver: performs a `WALReceiverStateMachine`'s actions on the spool, the
/// upload queue and the stream, for the daemon's session and the backup's receiver alike. Used
/// by the receiver's thread only (blocking I/O, not Sendable).
struct WALReceiverActions {
    let stream: ReplicationStream
    let spool: WALSpool
    /// Where the uploader and the status read the positions: the machine's are published after
    /// each batch of actions.
    let progress: SharedProgress
    let queue: AsyncStream<UploadJob>.Continuation

    /// Feeds `event` to `machine` and performs the actions in order, answering each fsync with
    /// `.spoolSynced` before going on. Returns the action that ends the stream, if one came:
    /// `.switchTimeline`, `.streamEnded` or `.stop` (the stream is stopped then).
    @discardableResult
    func handle(_ event: WALReceiverStateMachine.Event, _ machine: inout WALReceiverStateMachine) throws -> WALReceiverStateMachine.Action? {
        defer { progress.update { $0.takeStream(of: machine.progress) } }
        var actions = machine.handle(event)[...]
        var ending: WALReceiverStateMachine.Action?
        while let action = actions.popFirst() {
            switch action {
            case let .write(data, timeline):
                let completed = try data.bytes.withUnsafeBytes { try spool.write($0, at: data.start, timeline: timeline) }
                assert(completed == actions.compactMap { if case let .queueSegment(segment, _) = $0 { segment } else { nil } },
                       "the spool and the machine disagree on the segments a write completed")
            case .syncSpool:
                try spool.sync()
                actions = machine.handle(.spoolSynced)[...] + actions
            case .closeSpoolSegment:
                try spool.closeCurrent()
                actions = machine.handle(.spoolSynced)[...] + actions
            case let .queueSegment(segment, times):
                queue.yield(.segment(segment, path: spool.completedPath(segment), times: times))
            case let .queuePartial(segment, length, final, times):
                queue.yield(.partial(segment, path: spool.partialPath(segment), length: length, final: final, times: times))
            case let .queueGap(gap):
                queue.yield(.gap(gap))
            case let .sendStatus(write, flush):
                try stream.sendStatus(write: write, flush: flush, apply: .zero, replyRequested: false)
            case .switchTimeline, .streamEnded:
                ending = action
            case .stop:
                try? stream.stop()
                ending = action
            }
        }
        return ending
    }
}
