import Synchronization

/// Where the wall-clock time of one operation (a backup, a restore) went: its phases in the
/// order they ended, for the debug log, `--json` and the benchmarks.
///
/// Top-level phases follow each other: their seconds add up to the operation's wall time.
/// A phase with `within` ran *inside* the named top-level phase, beside others (e.g. the WAL
/// wait and the last chunks, both after the end of the stream): it is not counted again.
public struct PhaseTimes: Sendable, Codable, Hashable {
    public struct Phase: Sendable, Codable, Hashable {
        public var name: String
        public var seconds: Double
        /// The top-level phase this one overlaps, nil for a top-level phase.
        public var within: String?

        public init(name: String, seconds: Double, within: String? = nil) {
            self.name = name
            self.seconds = seconds
            self.within = within
        }
    }

    public var phases: [Phase]

    public init(_ phases: [Phase] = []) {
        self.phases = phases
    }

    /// Encoded as the bare array of phases.
    public init(from decoder: any Decoder) throws {
        phases = try decoder.singleValueContainer().decode([Phase].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(phases)
    }

    /// The seconds of the phase named `name` (the first one of that name), nil when absent.
    public subscript(name: String) -> Double? {
        phases.first { $0.name == name }?.seconds
    }

    /// The sum of the top-level phases.
    public var total: Double {
        phases.filter { $0.within == nil }.reduce(0) { $0 + $1.seconds }
    }

    /// `name=1.234s` pairs, top-level phases first, for a log line.
    public var summary: String {
        phases.map { phase in
            "\(phase.within.map { "\($0)/" } ?? "")\(phase.name)=\(Self.format(phase.seconds))s"
        }.joined(separator: " ")
    }

    /// Seconds with three decimals, for logs.
    public static func format(_ seconds: Double) -> String {
        let millis = Int((seconds * 1000).rounded())
        let fraction = String(millis % 1000)
        return "\(millis / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }
}

/// Records `PhaseTimes` as an operation goes, from any thread.
///
/// `lap(_:)` ends the current top-level phase (begun at the previous lap, or at `start`);
/// `record(_:since:within:)` adds a phase that ran beside others. Each phase is passed to
/// `onPhase` as it ends (the services log it at debug level).
public final class PhaseClock: Sendable {
    private struct State {
        var lastLap: ContinuousClock.Instant
        var phases: [PhaseTimes.Phase] = []
    }

    private let state: Mutex<State>
    private let onPhase: @Sendable (PhaseTimes.Phase) -> Void

    public init(start: ContinuousClock.Instant = .now, onPhase: @escaping @Sendable (PhaseTimes.Phase) -> Void = { _ in }) {
        state = Mutex(State(lastLap: start))
        self.onPhase = onPhase
    }

    /// Ends the current top-level phase as `name`; the next one begins now.
    @discardableResult
    public func lap(_ name: String) -> Double {
        let now = ContinuousClock.now
        let phase = state.withLock { state in
            let phase = PhaseTimes.Phase(name: name, seconds: (now - state.lastLap).inSeconds)
            state.lastLap = now
            state.phases.append(phase)
            return phase
        }
        onPhase(phase)
        return phase.seconds
    }

    /// Adds `name`, from `start` until now, inside the top-level phase `within`.
    public func record(_ name: String, since start: ContinuousClock.Instant, within: String) {
        record(name, seconds: (ContinuousClock.now - start).inSeconds, within: within)
    }

    /// Adds `name` of `seconds` (e.g. summed over parallel jobs) inside `within`.
    public func record(_ name: String, seconds: Double, within: String) {
        let phase = PhaseTimes.Phase(name: name, seconds: seconds, within: within)
        state.withLock { $0.phases.append(phase) }
        onPhase(phase)
    }

    /// The phases recorded so far.
    public var times: PhaseTimes {
        PhaseTimes(state.withLock { $0.phases })
    }
}
