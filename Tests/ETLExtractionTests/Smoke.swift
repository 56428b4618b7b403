import XCTest
@testable import ETLExtraction

final class ETLExtractionSmokeTests: XCTestCase {}
