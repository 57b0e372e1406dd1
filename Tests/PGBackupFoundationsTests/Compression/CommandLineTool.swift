import Foundation

/// Runs the real `gzip`/`zstd` tools on bytes, through temporary files (pipes would deadlock on
/// large data without extra threads).
enum CommandLineTool {
    struct Failure: Error, CustomStringConvertible {
        let command: [String]
        let status: Int32
        let standardError: String
        var description: String { "\(command.joined(separator: " ")) exited with \(status): \(standardError)" }
    }

    /// Runs `command` (looked up in PATH) with `input` on standard input; returns standard output.
    static func run(_ command: [String], input: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("codec-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let inputURL = directory.appendingPathComponent("in")
        let outputURL = directory.appendingPathComponent("out")
        let errorURL = directory.appendingPathComponent("err")
        try Data(input).write(to: inputURL)
        _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.standardInput = try FileHandle(forReadingFrom: inputURL)
        process.standardOutput = try FileHandle(forWritingTo: outputURL)
        process.standardError = try FileHandle(forWritingTo: errorURL)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let message = (try? String(contentsOf: errorURL, encoding: .utf8)) ?? ""
            throw Failure(command: command, status: process.terminationStatus, standardError: message)
        }
        return Array(try Data(contentsOf: outputURL))
    }
}
