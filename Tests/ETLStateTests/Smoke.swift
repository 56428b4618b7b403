import XCTest
@testable import ETLState

final class ETLStateSmokeTests: XCTestCase {}
