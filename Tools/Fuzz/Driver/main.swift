// stoa-fuzz: runs one fuzz target of StoaFuzzTargets.
//
//   stoa-fuzz --list
//   stoa-fuzz TARGET [libFuzzer flags and corpus directories…]   (built by Tools/fuzz.sh)
//   stoa-fuzz TARGET FILE…                                        (any build: runs each file once)
//
// Tools/fuzz.sh builds this with AddressSanitizer and SanitizerCoverage and
// links libFuzzer's library without its `main`; then libFuzzer's driver
// (`LLVMFuzzerRunDriver`, found at run time) runs the target. A plain build
// has no libFuzzer and runs the files given, which is how a finding is
// replayed without sanitizers.
#if canImport(Glibc)
import Glibc
#endif
import StoaFuzzTargets

typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
typealias RunDriver =
    @convention(c) (UnsafeMutablePointer<CInt>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>, TestOneInput) -> CInt

/// The target the C callback runs (set once, before the driver starts).
nonisolated(unsafe) var selected: FuzzTarget? = nil

/// Runs the selected target on one input; a finding stops the process
/// (libFuzzer saves the input that made it).
func runSelected(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    do throws(FuzzFinding) {
        try selected!.run(bytes)
    } catch {
        fatalError("finding in \(selected!.name): \(error.description)")
    }
    return 0
}

/// Writes `text` to standard error.
func printError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.append(0x0A)
    _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

func usage() -> Never {
    let names = FuzzTarget.all.map(\.name).joined(separator: "|")
    printError("usage: stoa-fuzz --list | stoa-fuzz \(names) [libFuzzer flags] [corpus…] | stoa-fuzz TARGET FILE…")
    exit(64)
}

var arguments = CommandLine.arguments
guard arguments.count >= 2 else { usage() }
if arguments[1] == "--list" {
    for target in FuzzTarget.all { print(target.name + "\t" + target.summary) }
    exit(0)
}
guard let target = FuzzTarget.named(arguments[1]) else { usage() }
selected = target

if let symbol = dlsym(dlopen(nil, RTLD_NOW), "LLVMFuzzerRunDriver") {
    // libFuzzer reads every argument but the target's name.
    var argv: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
    var argc = CInt(argv.count - 1)
    let driver = unsafeBitCast(symbol, to: RunDriver.self)
    let status = argv.withUnsafeMutableBufferPointer { buffer in
        var base = buffer.baseAddress!
        return driver(&argc, &base) { data, size in runSelected(data, size) }
    }
    exit(status)
}

// No libFuzzer: run each file given (a finding traps, as under libFuzzer).
var ran = 0
for path in arguments.dropFirst(2) where !path.hasPrefix("-") {
    guard let file = fopen(path, "rb") else {
        printError("stoa-fuzz: cannot open \(path)")
        exit(66)
    }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = fread(&buffer, 1, buffer.count, file)
        if count == 0 { break }
        bytes += buffer[..<count]
    }
    fclose(file)
    _ = bytes.withUnsafeBufferPointer { runSelected($0.baseAddress, $0.count) }
    ran += 1
}
print("stoa-fuzz: \(target.name): \(ran) input(s) ran clean (no libFuzzer in this build)")
