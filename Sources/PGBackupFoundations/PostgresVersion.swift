/// PostgreSQL's version, as the server and its tools report it.
public enum PostgresVersion {
    /// The major version of a `server_version_num`: 16 for 160014, 15 for 150018.
    public static func major(of versionNumber: Int) -> Int { versionNumber / 10000 }

    /// The major version in a tool's `--version` output: 16 from "postgres (PostgreSQL) 16.14",
    /// 15 from "pg_config (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" (the first number after
    /// the program's name); nil when there is none.
    public static func major(fromVersionOutput text: String) -> Int? {
        text.split(separator: " ").dropFirst().lazy.compactMap { Int($0.prefix { $0.isNumber }) }.first
    }
}
