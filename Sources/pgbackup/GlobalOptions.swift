import ArgumentParser
import Foundation
import Logging
import PGBackupServices

/// The options every command takes (DESIGN.md, "CLI contract").
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Configuration file.", discussion: "Default: $PGBACKUP_CONFIG, then /etc/pgbackup/pgbackup.yaml if it exists.",
        valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp(
        "Server name inside the repository.", discussion: "Needed only when the configuration names several servers. Default: $PGBACKUP_SERVER, then main.",
        valueName: "name"))
    var server: String?

    @Option(name: .long, help: "Log line format: text or json.")
    var logFormat: LogFormat?

    @Option(name: .long, help: "Least severe log level shown: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level?

    /// The settings from the configuration file and the environment; settings that pgbackup
    /// does not implement yet and a policy that does not load are refused (exit 2), never
    /// ignored, unless `refusingUnimplemented` is false.
    func settings(refusingUnimplemented: Bool = true) throws -> Settings {
        let settings = try SettingsLoader.load(configPath: config, environment: ProcessInfo.processInfo.environment, server: server)
        if refusingUnimplemented {
            try settings.refuseUnimplemented()
            _ = try settings.loadPolicy()
        }
        return settings
    }

    /// Sets up logging to standard error and returns the command's logger.
    func logger(for settings: Settings, label: String) -> Logger {
        let format = logFormat ?? settings.logFormat.flatMap(LogFormat.init(rawValue:)) ?? .text
        let level = logLevel ?? settings.logLevel.flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, format: format, level: level) }
        return Logger(label: "pgbackup.\(label)")
    }
}

extension LogFormat: ExpressibleByArgument {}
extension Logger.Level: @retroactive ExpressibleByArgument {}
