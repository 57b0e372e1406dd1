import Foundation

/// Where the PostgreSQL server binaries of each major live (`postgres_bindir:`,
/// `PGBACKUP_POSTGRES_BINDIR`), for the commands that start a server of a backup's own major
/// (`verify-restore`, `follow`).
///
/// Two forms: one directory (`/usr/lib/postgresql/16/bin`), used only for the major its
/// binaries are of; or one directory per major (`15=/usr/lib/postgresql/15/bin,18=/opt/pg18/bin`,
/// separated by commas or spaces). A major the setting does not name is looked for where
/// PostgreSQL's packages put it (`ServerBinaries.find`).
public struct PostgresBindirs: Sendable, Equatable, CustomStringConvertible {
    /// The one directory of the first form.
    public var directory: String?
    /// The directories of the second form, by major.
    public var byMajor: [Int: String]

    public init(directory: String? = nil, byMajor: [Int: String] = [:]) {
        self.directory = directory
        self.byMajor = byMajor
    }

    /// Parses either form; the reason says what is allowed.
    public init(parsing text: String) throws(InvalidSettingText) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.contains("=") else {
            guard trimmed.hasPrefix("/") else {
                throw InvalidSettingText(reason: "expected an absolute path, or one per major: 16=/usr/lib/postgresql/16/bin,18=/opt/pg18/bin")
            }
            self.init(directory: trimmed)
            return
        }
        var byMajor: [Int: String] = [:]
        for entry in trimmed.split(whereSeparator: { $0 == "," || $0 == " " }) {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let major = Int(parts[0]), major >= 10, parts[1].hasPrefix("/") else {
                throw InvalidSettingText(reason: "expected MAJOR=/absolute/path entries separated by commas, e.g. 16=/usr/lib/postgresql/16/bin,18=/opt/pg18/bin")
            }
            guard byMajor[major] == nil else { throw InvalidSettingText(reason: "PostgreSQL \(major) is named twice") }
            byMajor[major] = parts[1]
        }
        self.init(byMajor: byMajor)
    }

    public var description: String {
        directory ?? byMajor.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}
