import Foundation

/// How a value is written into the files PostgreSQL reads: its configuration files, and the
/// commands it runs through `/bin/sh` (`restore_command`, `pg_ctl` under `runuser`).
public enum Quoting {
    /// A configuration-file string literal: single quotes, quotes and backslashes doubled.
    static func configurationValue(_ value: String) -> String {
        "'" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// A word for `/bin/sh` (PostgreSQL runs `restore_command` through it): as is when it is
    /// plainly safe, else single-quoted.
    public static func shellWord(_ word: String) -> String {
        let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "/._-=:+,@%"))
        if !word.isEmpty && word.unicodeScalars.allSatisfy(safe.contains) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
