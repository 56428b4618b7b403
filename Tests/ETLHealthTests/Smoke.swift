import XCTest
@testable import ETLHealth

final class ETLHealthSmokeTests: XCTestCase {}
