import ArgumentParser

/// A mistyped subcommand (`authctl isue alice`) is named, with the subcommand it was probably
/// meant to be; argument-parser alone would report "2 unexpected arguments".
enum SubcommandSuggestion {
    /// The root's options that take a value, so that the value is not mistaken for a subcommand.
    static let optionsWithValues: Set<String> = ["--socket", "--generate-completion-script"]

    /// A message when the first word of `arguments` that is not an option names no subcommand of
    /// `commands`; `nil` when it does, or when there is none (argument-parser reports that).
    static func message(for arguments: [String], commands: [any ParsableCommand.Type]) -> String? {
        let names = commands.map { $0._commandName } + ["help"]
        var index = arguments.startIndex
        while index < arguments.endIndex, arguments[index].hasPrefix("-") {
            if arguments[index] == "--" { return nil }
            index += optionsWithValues.contains(arguments[index]) ? 2 : 1
        }
        guard index < arguments.endIndex else { return nil }
        let word = arguments[index]
        guard !names.contains(word) else { return nil }
        let ranked = names.map { (name: $0, distance: editDistance(word, $0)) }.sorted { $0.distance < $1.distance }
        if let best = ranked.first, best.distance <= max(1, word.count / 3) {
            return "unknown command '\(word)'; did you mean '\(best.name)'? (see 'authctl --help')"
        }
        return "unknown command '\(word)'; the commands are \(names.dropLast().joined(separator: ", ")) (see 'authctl --help')"
    }

    /// Levenshtein distance, with a swap of two neighbours counted as one edit (`isseu`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var table = [[Int]](repeating: [Int](repeating: 0, count: b.count + 1), count: a.count + 1)
        for i in 0...a.count { table[i][0] = i }
        for j in 0...b.count { table[0][j] = j }
        for i in 1...a.count {
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                table[i][j] = min(table[i - 1][j] + 1, table[i][j - 1] + 1, table[i - 1][j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    table[i][j] = min(table[i][j], table[i - 2][j - 2] + 1)
                }
            }
        }
        return table[a.count][b.count]
    }
}
