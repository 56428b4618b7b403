import ETLCore
import ETLHTTP
import Foundation
import XCTest
@testable import ETLExtraction

/// The login's loopback callback against real HTTP requests and the emulator's accounts
/// service: a callback with another `state` is answered 400 and ignored (its code is never
/// exchanged), and the wait goes on, so the real redirect still completes the login.
final class LoginCallbackTests: XCTestCase {
    var emulator: Emulator!
    let transport = CurlHTTPClient()

    override func setUpWithError() throws { emulator = try Emulator() }
    override func tearDown() { emulator?.stop(); emulator = nil }

    func flow() -> LoginFlow {
        LoginFlow(credentials: SpotifyCredentials(clientID: Emulator.clientID, clientSecret: Emulator.clientSecret),
                  accountsURL: emulator.accountsURL, transport: transport, port: 0)
    }

    /// Runs `session.complete` on its own thread; the returned box holds its result once `done` is fulfilled.
    func completeInBackground(_ session: LoginSession, waitSeconds: Double) -> (LockedBox<Result<String, Error>>, XCTestExpectation) {
        let result = LockedBox<Result<String, Error>>()
        let done = expectation(description: "login finished")
        Thread.detachNewThread {
            result.value = Result { try session.complete(waitSeconds: waitSeconds) }
            done.fulfill()
        }
        return (result, done)
    }

    func testWrongStateIsIgnoredAndTheRightOneThenCompletes() throws {
        let session = try flow().start()
        let (result, done) = completeInBackground(session, waitSeconds: 60)
        let tokensBefore = emulator.tokenRequests

        // A forged callback (login CSRF): 400, a plain page, and no code exchange.
        let forged = try transport.send(HTTPRequest(url: session.redirectURI + "?code=emu-code-forged&state=forged", timeout: 5))
        XCTAssertEqual(forged.status, 400)
        let page = String(decoding: forged.body, as: UTF8.self)
        XCTAssertTrue(page.contains("state parameter does not match"), page)
        XCTAssertFalse(page.contains("emu-code-forged"), "the page must not echo the code")
        // No state at all is the same case.
        XCTAssertEqual(try transport.send(HTTPRequest(url: session.redirectURI + "?code=x", timeout: 5)).status, 400)
        XCTAssertNil(result.value, "a wrong state ended the wait")
        XCTAssertEqual(emulator.tokenRequests, tokensBefore, "a code with a wrong state was exchanged")

        // The browser's real redirect, after the forged ones, still completes the login.
        let authorize = try transport.send(HTTPRequest(url: session.authorizeURL, timeout: 10))
        XCTAssertEqual(authorize.status, 302)
        let location = try XCTUnwrap(authorize.header("location"))
        let ok = try transport.send(HTTPRequest(url: location, timeout: 10))
        XCTAssertEqual(ok.status, 200)
        wait(for: [done], timeout: 90)
        let refresh = try XCTUnwrap(result.value).get()
        XCTAssertTrue(refresh.hasPrefix("emu-rt-"), "not a refresh token from the emulator")
        XCTAssertEqual(emulator.tokenRequests, tokensBefore + 1, "exactly the right code was exchanged")
    }

    func testOnlyWrongStatesEndAtTheDeadlineSayingSo() throws {
        let session = try flow().start()
        let (result, done) = completeInBackground(session, waitSeconds: 3)
        XCTAssertEqual(try transport.send(HTTPRequest(url: session.redirectURI + "?code=c&state=stale", timeout: 5)).status, 400)
        wait(for: [done], timeout: 30)
        XCTAssertThrowsError(try XCTUnwrap(result.value).get()) { e in
            XCTAssertEqual(e as? LoginError, .timedOut(seconds: 3, ignored: 1))
            XCTAssertTrue("\(e)".contains("1 callback with a wrong state parameter ignored"), "\(e)")
        }
        XCTAssertEqual(emulator.tokenRequests, 0, "nothing may be exchanged")
    }
}
