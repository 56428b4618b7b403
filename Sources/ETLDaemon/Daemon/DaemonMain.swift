import Foundation
import Logging

/// The long-running service (placeholder until the scheduler lands).
public enum DaemonMain {
    public static func run(components: Components, configPath: String, logger: Logger) throws {
        logger.error("daemon mode not yet wired")
    }
}
