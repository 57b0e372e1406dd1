import Foundation
import Testing
import PGBackupFoundations
import PGBackupRepository
import PGBackupServices
import PGBackupStorage
import PGBackupTestSupport

/// Where an end-to-end test keeps its repository. Every end-to-end test of WAL, backup and
/// restore runs on both (`@Test(arguments: RepositoryKind.tested)`).
enum RepositoryKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    /// A directory under the test's scratch directory.
    case file
    /// A fresh prefix in the bucket of the shared moto server (signatures checked).
    case s3

    var testDescription: String { rawValue }

    /// The kinds the parametrized end-to-end tests run with: every kind, unless
    /// `PGBACKUP_TEST_REPOSITORY_KINDS` names fewer (`file`): scripts/test runs PostgreSQL 16 and
    /// 18 with `file` alone, since the S3 driver does not depend on the server's major; 15 runs
    /// both. A name that is not a kind stops the run (never a silently smaller one).
    static let tested: [RepositoryKind] = {
        guard let names = ProcessInfo.processInfo.environment["PGBACKUP_TEST_REPOSITORY_KINDS"], !names.isEmpty else { return allCases }
        return names.split(separator: ",").map { name in
            guard let kind = RepositoryKind(rawValue: String(name)) else {
                preconditionFailure("PGBACKUP_TEST_REPOSITORY_KINDS names '\(name)', not one of \(allCases.map(\.rawValue))")
            }
            return kind
        }
    }()
}

/// One test's repository: what the binary is told (`environment`, or a configuration file), and
/// the same repository opened the way the binary opens it (`StoreFactory`), for the tests to look
/// inside. Tests look through `store`, never at paths on disk, so one test body serves both kinds.
struct TestRepository: Sendable {
    let kind: RepositoryKind
    /// `file:///…/repo` or `s3://bucket/prefix`.
    let url: String
    /// The directory of a file:// repository; nil for s3.
    let directory: String?
    /// The S3 server (s3 only).
    let moto: MotoServer?
    /// For the binary: `PGBACKUP_REPO` and, for s3, the endpoint (a fault proxy's, if one was
    /// given), region, path-style addressing and credentials.
    let environment: [String: String]
    /// The s3 store, opened once (a file:// store can only be opened once `init` made its directory).
    private let s3Store: (any ObjectStore)?

    /// The repository, opened as the binary opens it but always directly (never through a fault
    /// proxy): what the tests read is what is stored.
    var store: any ObjectStore {
        get throws { try s3Store ?? Self.openStore(environment) }
    }

    /// The repository library's view of server `main`.
    var mainServer: Repository {
        get throws { Repository(store: try store, server: "main") }
    }

    /// A fresh, empty repository of `kind`: `<scratch>/<name>` (not created: `pgbackup init`
    /// does that), or `s3://<moto bucket>/e2e-<random>/<name>`. With `endpoint`, the binary talks
    /// to S3 there (a fault proxy in front of moto).
    static func make(_ kind: RepositoryKind, in scratch: ScratchDirectory, name: String = "repo", endpoint: String? = nil) async throws -> TestRepository {
        switch kind {
        case .file:
            let directory = scratch.path + "/" + name
            let environment = ["PGBACKUP_REPO": "file://\(directory)"]
            return TestRepository(kind: kind, url: "file://\(directory)", directory: directory, moto: nil, environment: environment, s3Store: nil)
        case .s3:
            let moto = try await MotoServer.shared()
            let url = "s3://\(moto.bucket)/e2e-\(UUID().uuidString.prefix(8).lowercased())/\(name)"
            var direct = moto.clientEnvironment
            direct["PGBACKUP_REPO"] = url
            var environment = direct
            if let endpoint { environment["PGBACKUP_S3_ENDPOINT"] = endpoint }
            return TestRepository(kind: kind, url: url, directory: nil, moto: moto, environment: environment, s3Store: try openStore(direct))
        }
    }

    /// The store that `environment` names, by the binary's own route: settings, then StoreFactory.
    private static func openStore(_ environment: [String: String]) throws -> any ObjectStore {
        try StoreFactory.open(try SettingsLoader.settings(yaml: nil, path: "/dev/null", environment: environment, server: nil))
    }

    /// The repository settings as a configuration file (what `pgbackup restore` writes next to a
    /// restored data directory): `repository:` and, for s3, the `s3:` block with credentials.
    func configurationYAML() throws -> String {
        try SettingsLoader.settings(yaml: nil, path: "/dev/null", environment: environment, server: nil)
            .repositoryConfigurationYAML(comment: "written by the end-to-end tests")
    }

    /// Writes `configurationYAML()` to `path`, mode 0600, owned by `user` (the server's user runs
    /// archive_command and restore_command with it).
    func writeConfiguration(to path: String, for user: ServerUser) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(try configurationYAML().utf8), attributes: [.posixPermissions: 0o600]) else {
            throw FixtureError("unable to write \(path)")
        }
        try user.takeOwnership(ofTree: path)
    }

    /// Lets the server's OS user (archive_command, restore_command) read and write a file://
    /// repository that the tests created as root. Nothing to do for s3.
    func letTheServerUse(_ user: ServerUser) throws {
        if let directory { try user.takeOwnership(ofTree: directory) }
    }

    // MARK: looking inside

    /// The completed segments the repository holds (every timeline), sorted.
    func archivedSegments(segmentSize: WALSegmentSize) async throws -> [WALSegmentName] {
        try await Self.archivedSegments(in: try store, segmentSize: segmentSize)
    }

    /// The completed segments server `main` of `store` holds (every timeline), sorted.
    static func archivedSegments(in store: any ObjectStore, segmentSize: WALSegmentSize) async throws -> [WALSegmentName] {
        let layout = WALArchiveLayout(repository: RepositoryLayout(server: "main"))
        return try await store.list(prefix: layout.prefix).compactMap { info -> WALSegmentName? in
            guard case .segment(let name, _)? = layout.entry(forKey: info.key, segmentSize: segmentSize) else { return nil }
            return name
        }.sorted()
    }

    /// Whether `key` is stored.
    func exists(_ key: String) async throws -> Bool { try await store.exists(key) }

    /// The keys under `prefix`, sorted.
    func keys(under prefix: String) async throws -> [String] { try await store.list(prefix: prefix).map(\.key) }

    /// Flips bits of one byte in the middle (or at `fraction` of the length) of a stored object,
    /// the way a bad disk or a bad copy would; returns the original bytes.
    @discardableResult
    func damage(_ key: String, at fraction: Double = 0.5, mask: UInt8 = 0xFF) async throws -> [UInt8] {
        let original = try await store.get(key)
        var bytes = original
        bytes[Int(Double(bytes.count) * fraction)] ^= mask
        try await store.put(key, bytes: bytes)
        return original
    }

    /// What `main/backups/` holds, by backup id: for file://, the directories on disk (an empty
    /// directory left behind counts); for s3, the ids that any key is stored under.
    func backupEntries() async throws -> [String] {
        if let directory {
            return (try? FileManager.default.contentsOfDirectory(atPath: directory + "/main/backups"))?.sorted() ?? []
        }
        let prefix = RepositoryLayout(server: "main").backupsPrefix
        return Set(try await keys(under: prefix).compactMap { $0.dropFirst(prefix.count).split(separator: "/").first.map(String.init) }).sorted()
    }

    /// Whether nothing at all is stored: for file://, the directory (which must exist) is empty.
    func isEmpty() async throws -> Bool {
        if let directory { return try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty }
        return try await store.list(prefix: "").isEmpty
    }
}
