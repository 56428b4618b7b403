import ETLCore
import Foundation

/// What a `runPythonScript` run printed and how it ended.
struct PythonRun {
    let status: Int32
    let out: Data
    let err: Data
}

/// Runs `/usr/bin/python3 -c script arguments...` from `/` (system python, readable by any uid),
/// as nobody through `setpriv` when `asNobody`: the tests' real, separate-process socket
/// client. Both pipes are drained while it runs, so a large output cannot stall it.
func runPythonScript(_ script: String, _ arguments: [String], asNobody: Bool = false) throws -> PythonRun {
    let p = Process()
    if asNobody {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script] + arguments
    } else {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", script] + arguments
    }
    p.currentDirectoryURL = URL(fileURLWithPath: "/")
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    try p.run()
    let errData = Guarded(Data())
    let errDone = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        let d = err.fileHandleForReading.readDataToEndOfFile()
        errData.withLock { $0 = d }
        errDone.signal()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    errDone.wait()
    p.waitUntilExit()
    return PythonRun(status: p.terminationStatus, out: outData, err: errData.withLock { $0 })
}
