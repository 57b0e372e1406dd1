import Foundation
import Testing
@testable import PGBackupServices

/// How `PGBACKUP_POLICY` / `policy:` finds its file (issue #11).
@Suite("policy: resolution of names and paths")
struct PolicyLocatorTests {
    func scratch() throws -> String {
        let directory = FileManager.default.temporaryDirectory.path + "/pgbackup-policies-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func pathsAreTakenAsGiven() throws {
        let locator = PolicyLocator(searchDirectories: [])
        #expect(try locator.path(for: "/srv/ours.yaml", setting: "PGBACKUP_POLICY") == "/srv/ours.yaml")
        #expect(try locator.path(for: "ours.yml", setting: "PGBACKUP_POLICY") == "ours.yml")
        #expect(try locator.path(for: "./ours", setting: "PGBACKUP_POLICY") == "./ours")
    }

    @Test func namesAreLookedUpInOrder() throws {
        let first = try scratch(), second = try scratch()
        defer { try? FileManager.default.removeItem(atPath: first); try? FileManager.default.removeItem(atPath: second) }
        try Data().write(to: URL(fileURLWithPath: second + "/gfs.yaml"))
        try Data().write(to: URL(fileURLWithPath: second + "/dev.yaml"))
        try Data().write(to: URL(fileURLWithPath: first + "/dev.yaml"))
        let locator = PolicyLocator(searchDirectories: [first + "/missing", first, second])
        #expect(try locator.path(for: "gfs", setting: "PGBACKUP_POLICY") == second + "/gfs.yaml")
        #expect(try locator.path(for: "dev", setting: "PGBACKUP_POLICY") == first + "/dev.yaml")
        #expect {
            try locator.path(for: "weekly", setting: "policy in /etc/pgbackup/pgbackup.yaml")
        } throws: { error in
            "\(error)".hasPrefix("invalid value 'weekly' for policy in /etc/pgbackup/pgbackup.yaml: no policy of that name; the policies found are dev, gfs (searched \(first)/missing, \(first), \(second))")
        }
    }

    @Test func theInstallationsDirectoriesComeInOrder() throws {
        let checkout = try scratch()
        defer { try? FileManager.default.removeItem(atPath: checkout) }
        try FileManager.default.createDirectory(atPath: checkout + "/policies", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: checkout + "/.build/debug", withIntermediateDirectories: true)
        try Data().write(to: URL(fileURLWithPath: checkout + "/Package.swift"))
        let locator = PolicyLocator(policyDirectory: "/opt/policies", executable: checkout + "/.build/debug/pgbackup")
        #expect(locator.searchDirectories == [
            "/opt/policies", checkout + "/.build/share/pgbackup/policies", "/usr/share/pgbackup/policies", "/etc/pgbackup/policies", checkout + "/policies",
        ])
        #expect(PolicyLocator(policyDirectory: nil, executable: "/usr/local/bin/pgbackup").searchDirectories == [
            "/usr/local/share/pgbackup/policies", "/usr/share/pgbackup/policies", "/etc/pgbackup/policies",
        ])
    }
}
