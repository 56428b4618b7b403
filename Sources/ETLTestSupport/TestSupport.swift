import Foundation
/// Shared test support: launchers for the real peers (Spotify emulator, moto, IMDS emulator)
/// on loopback, temporary directories, and sd_notify receivers. Used only by test targets.
public enum TestSupport {
    /// The package root, found from this file's path, so tests can find scripts/.
    public static var packageRoot: String {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }
}
