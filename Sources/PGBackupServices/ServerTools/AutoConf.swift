/// Reading and rewriting settings in `postgresql.auto.conf` (PostgreSQL's configuration file
/// syntax: `name = 'value'` or `name value`, `#` comments, the last assignment wins). Pure.
public enum AutoConf {
    /// The value of the last assignment of `name` (case-insensitive, as PostgreSQL's names),
    /// unquoted; nil when none assigns it.
    public static func value(of name: String, in text: String) -> String? {
        var found: String?
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if let assignment = parse(line), assignment.name == name.lowercased() { found = assignment.value }
        }
        return found
    }

    /// `text` without any assignment of the names in `settings` or in `removing`, then `settings`
    /// appended under `# comment`. Every other line is kept as it was.
    public static func setting(
        _ settings: [(name: String, value: String)], removing: Set<String> = [], in text: String, comment: String
    ) -> String {
        let names = Set(settings.map { $0.name.lowercased() }).union(removing)
        var lines = removingAssignments(of: names, in: text).split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            .map(String.init)
        while lines.last?.isEmpty == true { lines.removeLast() }
        lines.append("# \(comment)")
        for setting in settings { lines.append("\(setting.name) = \(Quoting.configurationValue(setting.value))") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` without any assignment of `names` (case-insensitive); every other line as it was.
    public static func removingAssignments(of names: Set<String>, in text: String) -> String {
        let lowered = Set(names.map { $0.lowercased() })
        return text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).filter { line in
            parse(line).map { !lowered.contains($0.name) } ?? true
        }.joined(separator: "\n")
    }

    /// The settings that stop recovery at a target: a standby must have none.
    public static let recoveryTargets: Set<String> = [
        "recovery_target", "recovery_target_time", "recovery_target_lsn", "recovery_target_xid", "recovery_target_name",
        "recovery_target_action", "recovery_target_inclusive",
    ]

    /// One line's assignment: the lower-cased name and the unquoted value; nil for a comment, a
    /// blank line or anything else.
    static func parse(_ line: Substring) -> (name: String, value: String)? {
        var rest = line.drop { $0 == " " || $0 == "\t" }
        let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
        guard !name.isEmpty, name.first?.isNumber == false else { return nil }
        rest = rest.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }
        if rest.first == "=" { rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" } }
        var value = ""
        if rest.first == "'" {
            var index = rest.index(after: rest.startIndex)
            while index < rest.endIndex {
                let character = rest[index]
                let next = rest.index(after: index)
                if character == "'" {
                    guard next < rest.endIndex, rest[next] == "'" else { return (name.lowercased(), value) }
                    value.append("'")
                    index = rest.index(after: next)
                } else if character == "\\", next < rest.endIndex {
                    value.append(rest[next])
                    index = rest.index(after: next)
                } else {
                    value.append(character)
                    index = next
                }
            }
            return nil  // an unterminated quote: PostgreSQL would refuse the file
        }
        value = String(rest.prefix { !$0.isWhitespace && $0 != "#" })
        return (name.lowercased(), value)
    }
}
