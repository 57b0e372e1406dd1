/// PostgreSQL's `tablespace_map`: one line `<oid> <path>` per tablespace. At the start of
/// recovery from a backup PostgreSQL (re)creates each `pg_tblspc/<oid>` link from it
/// (`read_tablespace_map` in xlogrecovery.c), so a restore into other directories rewrites it to
/// name them. `read_tablespace_map` takes the character after a backslash literally and ends a
/// line at an unescaped `\n` or `\r`, so those three are backslash-escaped, as
/// `do_pg_backup_start` writes them. Pure.
enum TablespaceMap {
    static func format(_ directories: [UInt32: String]) -> String {
        directories.sorted { $0.key < $1.key }.map { oid, path in
            var escaped = ""
            for character in path.unicodeScalars {
                if character == "\\" || character == "\n" || character == "\r" { escaped.unicodeScalars.append("\\") }
                escaped.unicodeScalars.append(character)
            }
            return "\(oid) \(escaped)\n"
        }.joined()
    }
}
