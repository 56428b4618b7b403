import XCTest
@testable import ETLCore

final class ETLCoreSmokeTests: XCTestCase {}
