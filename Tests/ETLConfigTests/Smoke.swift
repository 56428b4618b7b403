import XCTest
@testable import ETLConfig

final class ETLConfigSmokeTests: XCTestCase {}
