import AuthdFuzzing
import CLibFuzzer

/// One input, from libFuzzer. Built only by `make fuzz`; the corpus is replayed by `make test`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ start: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    let bytes = start.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    do {
        try FuzzTargets.config(bytes)
    } catch {
        fatalError("fuzz-config: \(error)")
    }
    return 0
}

/// The entry point SwiftPM may give this executable (`<module>_main`): libFuzzer's driver.
@_cdecl("FuzzConfig_main")
public func fuzzConfigMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { start, count in fuzzConfig(start, count) }
}
