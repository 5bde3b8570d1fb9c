import ArgumentParser

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a password comes from: never the command line, where `ps` would show it.
enum PasswordInput {
    /// The first line of standard input, without its line ending (everything else is kept:
    /// spaces can be part of a password).
    static func fromStandardInput() throws -> String {
        guard var line = readLine(strippingNewline: true) else {
            throw ValidationError("--password-stdin: standard input is empty")
        }
        if line.hasSuffix("\r") { line.removeLast() }
        return line
    }

    /// Asks on the controlling terminal with echo turned off. With `confirm`, asks twice and
    /// insists that both answers match.
    static func prompt(_ question: String, confirm: Bool = false) throws -> String {
        let terminal = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard terminal >= 0 else {
            throw ValidationError("no terminal to ask for the password on; use --password-stdin")
        }
        defer { close(terminal) }
        let first = try read(question, terminal: terminal)
        if confirm {
            let second = try read("Again: ", terminal: terminal)
            guard first == second else { throw ValidationError("the two passwords differ") }
        }
        return first
    }

    private static func read(_ question: String, terminal: Int32) throws -> String {
        write(question, to: terminal)
        var saved = termios()
        guard tcgetattr(terminal, &saved) == 0 else { throw ValidationError("cannot read the terminal's settings") }
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        silent.c_lflag |= tcflag_t(ECHONL)
        guard tcsetattr(terminal, TCSAFLUSH, &silent) == 0 else { throw ValidationError("cannot turn off echo") }
        defer { tcsetattr(terminal, TCSAFLUSH, &saved) }
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(terminal, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
            // A password longer than authd accepts is cut off here and refused by authd as too long.
            if bytes.count <= 8192 { bytes.append(byte) }
        }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func write(_ text: String, to descriptor: Int32) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
    }
}
