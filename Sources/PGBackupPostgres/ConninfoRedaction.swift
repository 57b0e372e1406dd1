import Foundation

/// Removes passwords from a libpq connection string, keyword/value (`password='x'`) or URI
/// (`postgresql://user:x@host/db?password=x`) form, so it can appear in logs and errors.
public func redactingPasswords(inConninfo conninfo: String) -> String {
    if conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://") {
        return redactingURIPassword(conninfo)
    }
    return redactingKeywordPassword(conninfo)
}

private let redacted = "********"

private func redactingURIPassword(_ uri: String) -> String {
    var result = uri
    let schemeEnd = uri.range(of: "://")!.upperBound
    // user:password@ in the authority part (before the first '/', '?' or end).
    let authorityEnd = uri[schemeEnd...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? uri.endIndex
    let authority = uri[schemeEnd..<authorityEnd]
    if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
        result = String(uri[..<uri.index(after: colon)]) + redacted + String(uri[at...])
    }
    // ?password=… in the query.
    guard let question = result.firstIndex(of: "?") else { return result }
    let query = result[result.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { pair in
        pair.lowercased().hasPrefix("password=") ? "password=" + redacted : String(pair)
    }
    return String(result[...question]) + query.joined(separator: "&")
}

private func redactingKeywordPassword(_ conninfo: String) -> String {
    var output = ""
    var index = conninfo.startIndex
    func skipSpaces() {
        while index < conninfo.endIndex, conninfo[index].isWhitespace {
            output.append(conninfo[index])
            index = conninfo.index(after: index)
        }
    }
    while index < conninfo.endIndex {
        skipSpaces()
        let keywordStart = index
        while index < conninfo.endIndex, conninfo[index] != "=", !conninfo[index].isWhitespace {
            index = conninfo.index(after: index)
        }
        let keyword = conninfo[keywordStart..<index]
        output += keyword
        skipSpaces()
        guard index < conninfo.endIndex, conninfo[index] == "=" else { continue }
        output.append("=")
        index = conninfo.index(after: index)
        skipSpaces()
        // The value: 'quoted with \' escapes' or a run of non-space characters.
        let valueStart = index
        if index < conninfo.endIndex, conninfo[index] == "'" {
            index = conninfo.index(after: index)
            while index < conninfo.endIndex, conninfo[index] != "'" {
                if conninfo[index] == "\\" { index = conninfo.index(after: index) }
                if index < conninfo.endIndex { index = conninfo.index(after: index) }
            }
            if index < conninfo.endIndex { index = conninfo.index(after: index) }
        } else {
            while index < conninfo.endIndex, !conninfo[index].isWhitespace {
                if conninfo[index] == "\\" { index = conninfo.index(after: index) }
                if index < conninfo.endIndex { index = conninfo.index(after: index) }
            }
        }
        output += keyword == "password" ? redacted : String(conninfo[valueStart..<index])
    }
    return output
}
