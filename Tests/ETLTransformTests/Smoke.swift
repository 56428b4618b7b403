import XCTest
@testable import ETLTransform

final class ETLTransformSmokeTests: XCTestCase {}
