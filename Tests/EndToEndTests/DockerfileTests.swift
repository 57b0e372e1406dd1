import Foundation
import Testing
import PGBackupServices
import PGBackupTestSupport

/// No Docker engine runs here, so the Dockerfile is checked with BuildKit's own parser (PyPI
/// `dockerfile`) and against the scripts CI runs, which its build steps call.
@Suite("Dockerfile")
struct DockerfileTests {
    static let projectRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    struct Instruction: Decodable {
        var cmd: String
        var value: [String]
        var flags: [String]
    }

    func parse() async throws -> [Instruction] {
        let script = """
            import dockerfile, json, sys
            print(json.dumps([{"cmd": c.cmd.upper(), "value": list(c.value), "flags": list(c.flags)} for c in dockerfile.parse_file(sys.argv[1])]))
            """
        let result = try await runProcess("/usr/bin/env", ["python3", "-c", script, Self.projectRoot + "/Dockerfile"]).checked()
        return try JSONDecoder().decode([Instruction].self, from: result.standardOutputData)
    }

    @Test func itParsesAndBuildsWithTheScriptsCIRuns() async throws {
        let instructions = try await parse()
        let froms = instructions.filter { $0.cmd == "FROM" }
        #expect(froms.count == 2, "a build stage and a slim runtime stage")
        #expect(froms.first?.value.contains("build") == true)
        #expect(froms.last?.value.first?.contains("slim") == true)

        let runs = instructions.filter { $0.cmd == "RUN" }.map { $0.value.joined(separator: " ") }
        #expect(runs.contains { $0.contains("scripts/install-deps build") })
        #expect(runs.contains { $0.contains("scripts/build") })
        #expect(runs.contains { $0.contains("install-deps runtime") })
        #expect(!runs.contains { $0.contains("apt-get install") }, "packages come from scripts/install-deps only")
    }

    @Test func everyCopiedPathExistsAndTheModesExist() async throws {
        let instructions = try await parse()
        for copy in instructions where copy.cmd == "COPY" && !copy.flags.contains(where: { $0.hasPrefix("--from") }) {
            for source in copy.value.dropLast() {
                #expect(FileManager.default.fileExists(atPath: Self.projectRoot + "/" + source), "COPY source '\(source)' is missing")
            }
        }
        let installer = try String(contentsOfFile: Self.projectRoot + "/scripts/install-deps", encoding: .utf8)
        for mode in ["build)", "runtime)", "test)"] { #expect(installer.contains(mode)) }
    }

    @Test func theImageShipsThePoliciesWherePgbackupFindsThem() async throws {
        let instructions = try await parse()
        let copies = instructions.filter { $0.cmd == "COPY" && !$0.flags.contains { $0.hasPrefix("--from") } }
        // The runtime stage (after the last FROM) copies the checkout's policies/ to a directory
        // pgbackup searches by name (PolicyLocator).
        let runtime = instructions.suffix(from: try #require(instructions.lastIndex { $0.cmd == "FROM" }))
        #expect(runtime.contains { $0.cmd == "COPY" && $0.value == ["policies", "/usr/share/pgbackup/policies"] }, "\(copies.map(\.value))")
        #expect(PolicyLocator(policyDirectory: nil, executable: "/usr/local/bin/pgbackup").searchDirectories.contains("/usr/share/pgbackup/policies"))
        let shipped = try FileManager.default.contentsOfDirectory(atPath: Self.projectRoot + "/policies").filter { $0.hasSuffix(".yaml") }
        #expect(Set(["default.yaml", "gfs.yaml", "dev.yaml"]).isSubset(of: shipped))
    }

    @Test func theImageRunsAsAnUnprivilegedUser() async throws {
        let instructions = try await parse()
        let user = instructions.last { $0.cmd == "USER" }?.value.first
        #expect(user != nil && user != "root" && user != "0")
        let entrypoint = instructions.last { $0.cmd == "ENTRYPOINT" }?.value
        #expect(entrypoint == ["/usr/local/bin/pgbackup"])
    }
}
