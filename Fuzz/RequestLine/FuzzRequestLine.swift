import AuthdFuzzing

/// libFuzzer's entry point (`make fuzz`); the corpus is replayed by `make test`.
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
