import Foundation

/// Finds the file a `policy:` / `PGBACKUP_POLICY` value names. A value holding `/` or ending in
/// `.yaml`/`.yml` is a path; anything else is a name, `<name>.yaml` in the first of
/// `searchDirectories` that has it.
public struct PolicyLocator: Sendable {
    /// Where names are looked up, in order.
    public var searchDirectories: [String]

    public init(searchDirectories: [String]) {
        self.searchDirectories = searchDirectories
    }

    /// The directories of an installation: `$PGBACKUP_POLICY_DIR`, `<executable's
    /// directory>/../share/pgbackup/policies`, `/usr/share/pgbackup/policies`,
    /// `/etc/pgbackup/policies`, then, for a development build, the `policies/` of the source
    /// checkout the executable was built in (the nearest parent holding `Package.swift` and `policies/`).
    public init(policyDirectory: String?, executable: String? = PolicyLocator.runningExecutable()) {
        var directories: [String] = []
        if let policyDirectory, !policyDirectory.isEmpty { directories.append(policyDirectory) }
        if let executable {
            let binDirectory = URL(fileURLWithPath: executable).deletingLastPathComponent()
            directories.append(binDirectory.appendingPathComponent("../share/pgbackup/policies").standardized.path)
        }
        directories += ["/usr/share/pgbackup/policies", "/etc/pgbackup/policies"]
        if let executable, let checkout = Self.sourceCheckout(containing: executable) {
            directories.append(checkout + "/policies")
        }
        var seen = Set<String>()
        self.init(searchDirectories: directories.filter { seen.insert($0).inserted })
    }

    /// The running executable's real path (`/proc/self/exe` resolved), else `argv[0]`.
    public static func runningExecutable() -> String? {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return CommandLine.arguments.first.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
    }

    /// The nearest parent of `executable` holding `Package.swift` and a `policies/` directory.
    static func sourceCheckout(containing executable: String) -> String? {
        var directory = URL(fileURLWithPath: executable).deletingLastPathComponent().standardized
        for _ in 0..<12 {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path),
               FileManager.default.fileExists(atPath: directory.appendingPathComponent("policies").path, isDirectory: &isDirectory),
               isDirectory.boolValue {
                return directory.path
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        return nil
    }

    /// Whether the value is a path rather than a name.
    public static func isPath(_ value: String) -> Bool {
        value.contains("/") || value.hasSuffix(".yaml") || value.hasSuffix(".yml")
    }

    /// The file the value names; `setting` (`PGBACKUP_POLICY`, `policy in /etc/…`) is named in errors.
    public func path(for value: String, setting: String) throws(ConfigurationError) -> String {
        if Self.isPath(value) { return value }
        for directory in searchDirectories {
            let candidate = directory + "/" + value + ".yaml"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        let names = availableNames()
        throw .invalidValue(
            setting: setting, value: value,
            reason: "no policy of that name; the policies found are \(names.isEmpty ? "none" : names.joined(separator: ", ")) (searched \(searchDirectories.joined(separator: ", ")))\nHINT: give one of these names, a path to a policy file, or set PGBACKUP_POLICY_DIR to the directory that holds \(value).yaml")
    }

    /// The names of every `<name>.yaml` in the search directories, sorted.
    public func availableNames() -> [String] {
        var names = Set<String>()
        for directory in searchDirectories {
            for file in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where file.hasSuffix(".yaml") {
                names.insert(String(file.dropLast(".yaml".count)))
            }
        }
        return names.sorted()
    }
}
