import Foundation

/// Removes passwords from a libpq connection string, keyword/value (`password='x'`) or URI
/// (`postgresql://user:x@host/db?password=x`) form, so it can appear in logs and errors. The
/// client key's passphrase (`sslpassword`) is a password too.
public func redactingPasswords(inConninfo conninfo: String) -> String {
    if conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://") {
        return redactingURIPassword(conninfo)
    }
    return redactingKeywordPassword(conninfo)
}

private let redacted = "********"

/// The libpq keywords whose values are secrets.
private let secretKeywords: Set<String> = ["password", "sslpassword"]

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
        guard let equals = pair.firstIndex(of: "="), secretKeywords.contains(pair[..<equals].lowercased()) else { return String(pair) }
        return String(pair[...equals]) + redacted
    }
    return String(result[...question]) + query.joined(separator: "&")
}

/// Removes the passwords (`password`, `sslpassword`) from a libpq connection string, so that a
/// connection string made from pgbackup's own can be handed to another program (a standby's
/// `primary_conninfo`) without pgbackup's secret. That program then authenticates on its own:
/// a `passfile`, `~/.pgpass`, a certificate, or whatever else pg_hba.conf allows.
public func removingPasswords(fromConninfo conninfo: String) -> String {
    if conninfo.hasPrefix("postgresql://") || conninfo.hasPrefix("postgres://") {
        var result = conninfo
        let schemeEnd = conninfo.range(of: "://")!.upperBound
        let authorityEnd = conninfo[schemeEnd...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? conninfo.endIndex
        let authority = conninfo[schemeEnd..<authorityEnd]
        if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
            result = String(conninfo[..<colon]) + String(conninfo[at...])
        }
        guard let question = result.firstIndex(of: "?") else { return result }
        let kept = result[result.index(after: question)...].split(separator: "&").filter { pair in
            !secretKeywords.contains(String(pair.prefix(while: { $0 != "=" })).lowercased())
        }
        return String(result[..<question]) + (kept.isEmpty ? "" : "?" + kept.joined(separator: "&"))
    }
    var result = conninfo
    for pair in keywordPairs(conninfo).reversed() where secretKeywords.contains(String(pair.keyword)) {
        var end = pair.whole.upperBound
        while end < result.endIndex, result[end].isWhitespace { end = result.index(after: end) }
        result.removeSubrange(pair.whole.lowerBound..<end)
    }
    while result.last?.isWhitespace == true { result.removeLast() }
    return result
}

private func redactingKeywordPassword(_ conninfo: String) -> String {
    var result = conninfo
    for pair in keywordPairs(conninfo).reversed() where secretKeywords.contains(String(pair.keyword)) {
        result.replaceSubrange(pair.value, with: redacted)
    }
    return result
}

/// One `keyword = value` of a keyword/value connection string: the keyword, the whole pair's
/// range, and the value's (quotes included).
private struct KeywordPair {
    var keyword: Substring
    var whole: Range<String.Index>
    var value: Range<String.Index>
}

/// The pairs of a keyword/value connection string, in order.
private func keywordPairs(_ conninfo: String) -> [KeywordPair] {
    var pairs: [KeywordPair] = []
    var index = conninfo.startIndex
    func skipSpaces() {
        while index < conninfo.endIndex, conninfo[index].isWhitespace { index = conninfo.index(after: index) }
    }
    while index < conninfo.endIndex {
        skipSpaces()
        let keywordStart = index
        while index < conninfo.endIndex, conninfo[index] != "=", !conninfo[index].isWhitespace {
            index = conninfo.index(after: index)
        }
        let keyword = conninfo[keywordStart..<index]
        skipSpaces()
        guard index < conninfo.endIndex, conninfo[index] == "=" else { continue }
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
        pairs.append(KeywordPair(keyword: keyword, whole: keywordStart..<index, value: valueStart..<index))
    }
    return pairs
}
