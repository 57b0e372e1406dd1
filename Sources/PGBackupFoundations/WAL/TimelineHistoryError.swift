/// Why a timeline history file (`NNNNNNNN.history`) was refused. Line numbers count from 1.
public enum TimelineHistoryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The line does not start with a decimal timeline ID.
    case expectedTimelineID(file: String, line: Int, text: String)
    /// The timeline ID is not followed by a tab and an `X/Y` switchpoint.
    case expectedSwitchpoint(file: String, line: Int, text: String)
    /// Parent timelines must appear in increasing order.
    case timelinesNotIncreasing(file: String, line: Int, timeline: TimelineID, previous: TimelineID)
    /// Every ancestor must be older than the timeline the file describes.
    case ancestorNotOlder(file: String, line: Int, ancestor: TimelineID, timeline: TimelineID)
    /// A switchpoint lies before the previous one: the child would fork before its parent began.
    case switchpointsNotIncreasing(file: String, line: Int, switchpoint: LSN, previous: LSN)
    /// An ancestor's own history file disagrees with the history that descends from it.
    case ancestryMismatch(file: String, ancestorFile: String, detail: String)
    /// An ancestor's history file, needed to check the ancestry, is missing.
    case missingAncestorHistory(file: String, ancestor: TimelineID)

    public var description: String {
        switch self {
        case .expectedTimelineID(let file, let line, let text):
            return "unable to parse history file '\(file)' line \(line): expected a decimal timeline ID, found '\(text)'"
        case .expectedSwitchpoint(let file, let line, let text):
            return "unable to parse history file '\(file)' line \(line): expected '<timeline><TAB><switchpoint X/Y>', found '\(text)'"
        case .timelinesNotIncreasing(let file, let line, let timeline, let previous):
            return "unable to parse history file '\(file)' line \(line): timeline \(timeline) follows timeline \(previous);"
                + " timeline IDs must be in increasing sequence"
        case .ancestorNotOlder(let file, let line, let ancestor, let timeline):
            return "unable to parse history file '\(file)' line \(line): ancestor timeline \(ancestor) is not older"
                + " than timeline \(timeline) itself"
        case .switchpointsNotIncreasing(let file, let line, let switchpoint, let previous):
            return "unable to parse history file '\(file)' line \(line): switchpoint \(switchpoint) lies before the"
                + " previous switchpoint \(previous)"
        case .ancestryMismatch(let file, let ancestorFile, let detail):
            return "unable to verify the ancestry of '\(file)': it disagrees with '\(ancestorFile)': \(detail)"
        case .missingAncestorHistory(let file, let ancestor):
            return "unable to verify the ancestry of '\(file)': history file '\(ancestor.hex).history' of ancestor"
                + " timeline \(ancestor) is missing"
        }
    }
}
