import XCTest
@testable import ETLDaemon

final class ETLDaemonSmokeTests: XCTestCase {}
