import AuthdFuzzing
import CLibFuzzer

/// One input, from libFuzzer. Built only by `make fuzz`; the corpus is replayed by `make test`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequestLine(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    do {
        try FuzzTargets.requestLine(bytes)
    } catch {
        fatalError("fuzz-requestLine: \(error)")
    }
    return 0
}

/// The entry point SwiftPM may give this executable (`<module>_main`): libFuzzer's driver.
@_cdecl("FuzzRequestLine_main")
public func fuzzRequestLineMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { start, count in fuzzRequestLine(start, count) }
}
