import ArgumentParser
import AuthdProtocol

/// A token lifetime on the command line, in the forms the configuration file accepts: whole
/// seconds (`900`) or a duration (`"90s"`, `"15m"`, `"1h30m"`, `"7d"`).
struct Lifetime: ExpressibleByArgument {
    let seconds: Int64

    init?(argument: String) {
        guard let seconds = DurationText.commandLineSeconds(argument), seconds > 0 else { return nil }
        self.seconds = seconds
    }

    static var defaultCompletionKind: CompletionKind { .default }
}
