import XCTest
@testable import ETLSink

final class ETLSinkSmokeTests: XCTestCase {}
