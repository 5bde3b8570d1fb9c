import AuthdFuzzing
import CLibFuzzer

/// One input, from libFuzzer. Built only by `make fuzz`; the corpus is replayed by `make test`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPHead(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    do {
        try FuzzTargets.httpHead(bytes)
    } catch {
        fatalError("fuzz-httpHead: \(error)")
    }
    return 0
}

/// The entry point SwiftPM may give this executable (`<module>_main`): libFuzzer's driver.
@_cdecl("FuzzHTTPHead_main")
public func fuzzHTTPHeadMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { start, count in fuzzHTTPHead(start, count) }
}
