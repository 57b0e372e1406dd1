import Foundation
import Logging
import PGBackupFoundations
import PGBackupPostgres
import PGBackupRepository

/// Why a connection attempt found nothing to stream from (retried with backoff).
struct NoPrimaryError: Error, CustomStringConvertible {
    var refusal: String
    var servers: [ServerStatus]

    var description: String {
        "unable to find the primary to stream WAL from: \(refusal); the servers answered: \(servers.map(\.description).joined(separator: "; "))"
    }
}

/// The server a session connected to turned out not to be the repository's primary.
struct NotAPrimaryError: Error, CustomStringConvertible {
    var status: ServerStatus
    var systemIdentifier: SystemIdentifier

    var description: String {
        "unable to stream WAL from \(status.server): on connecting it answered as \(status.description), not as a primary of system \(systemIdentifier)"
    }
}

/// A primary to stream from, as the survey found it.
struct ChosenPrimary: Sendable {
    var server: ConninfoServer
    var timeline: TimelineID
}

extension WALStreamer {
    /// Asks every server of the conninfo and picks the primary (`PrimaryLocator.choose`): the
    /// repository's system identifier, not a timeline older than the newest the repository
    /// holds, the current server on a tie. A split brain is alerted (once per pair) and counted.
    /// Throws `NoPrimaryError` (retried), or the repository's mismatch error when every server
    /// that answers belongs to another cluster (not retried: the configuration is wrong).
    func choosePrimary(conninfo: String, info: RepositoryInfo, location: String, continuity: WALContinuity) async throws -> ChosenPrimary {
        let statuses = try await PrimaryLocator.survey(conninfo: conninfo, environment: environment)
        let systemIdentifier = info.systemIdentifier
        let choice = PrimaryLocator.choose(
            from: statuses, systemIdentifier: systemIdentifier, minimumTimeline: continuity.latestTimeline,
            current: streamingServer)
        if let primary = choice.primary, let identity = primary.identity {
            noteSplitBrain(chosen: primary.server, timeline: identity.timeline, others: choice.otherPrimaries)
        }
        guard let primary = choice.primary, let identity = primary.identity else {
            let identified = statuses.filter { $0.identity != nil }
            if let other = identified.first, let identity = other.identity,
               identified.allSatisfy({ $0.identity?.systemIdentifier != systemIdentifier }) {
                try info.check(
                    belongsTo: identity.systemIdentifier, walSegmentSize: info.walSegmentSize, location: location,
                    versionNumber: other.versionNumber, host: "\(other.server)")
            }
            throw NoPrimaryError(refusal: choice.refusal ?? "no primary answers", servers: statuses)
        }
        return ChosenPrimary(server: primary.server, timeline: identity.timeline)
    }

    /// Logs an ALERT and counts each pair of primaries seen at once, the first time it is seen.
    func noteSplitBrain(chosen: ConninfoServer, timeline: TimelineID, others: [ServerStatus]) {
        for other in others {
            let otherTimeline = other.identity.map { "\($0.timeline)" } ?? "?"
            let pair = ["\(chosen)@\(timeline)", "\(other.server)@\(otherTimeline)"].sorted().joined(separator: "|")
            guard alertedSplitBrains.withLock({ $0.insert(pair).inserted }) else { continue }
            splitBrainsDetected.add(1, ordering: .relaxed)
            logger.error(
                "ALERT: split brain: \(chosen) (timeline \(timeline)) and \(other.server) (timeline \(otherTimeline)) both answer as primary of this cluster; streaming from \(chosen) only, never interleaving their WAL",
                metadata: ["chosen": "\(chosen)", "chosen_timeline": "\(timeline)", "other": "\(other.server)", "other_timeline": "\(otherTimeline)"])
        }
    }

    /// While a session streams from `current`: every `resurveyInterval`, asks the other servers.
    /// One that answers as a primary of the cluster on a higher timeline ends the session (it
    /// reconnects to that one at once); one on the same or a lower timeline is a split brain.
    /// Returns when it asked the session to end, or when cancelled.
    func watchForNewerPrimary(_ current: ChosenPrimary, conninfo: String, systemIdentifier: SystemIdentifier) async {
        guard let others = try? ConninfoServer.servers(in: conninfo, environment: environment).filter({ $0 != current.server }),
              !others.isEmpty
        else { return }
        while !Task.isCancelled && !isStopping {
            try? await Task.sleep(for: options.resurveyInterval)
            guard !Task.isCancelled && !isStopping else { return }
            let statuses = await withTaskGroup(of: ServerStatus.self) { group in
                for server in others {
                    group.addTask { await PrimaryLocator.probe(server, conninfo: conninfo, environment: self.environment) }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let primaries = statuses.filter { $0.isPrimary && $0.identity?.systemIdentifier == systemIdentifier }
            if let newer = primaries.filter({ $0.identity!.timeline > current.timeline }).max(by: { $0.identity!.timeline < $1.identity!.timeline }) {
                logger.warning(
                    "\(newer.server) answers as primary on timeline \(newer.identity!.timeline), newer than \(current.server)'s \(current.timeline): ending this session to stream from it",
                    metadata: ["server": "\(current.server)", "new_primary": "\(newer.server)"])
                primaryMoved.store(true, ordering: .sequentiallyConsistent)
                return
            }
            noteSplitBrain(chosen: current.server, timeline: current.timeline, others: primaries)
        }
    }
}
