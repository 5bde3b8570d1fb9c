/// The duration syntax authd's configuration and `authctl` share: whole numbers with a unit,
/// summed, such as `"90s"`, `"15m"`, `"1h30m"` or `"7d"` (units `s`, `m`, `h`, `d`).
public enum DurationText {
    /// The number of seconds `text` spells, or `nil` when it is not a duration (empty, a bare
    /// number, a unit without a number, a negative or overflowing value).
    public static func seconds(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64?
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let (shifted, overflow1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (next, overflow2) = shifted.addingReportingOverflow(Int64(digit))
                guard !overflow1, !overflow2 else { return nil }
                number = next
                continue
            }
            let unit: Int64
            switch character {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: return nil
            }
            guard let value = number else { return nil }
            let (product, overflow1) = value.multipliedReportingOverflow(by: unit)
            let (sum, overflow2) = total.addingReportingOverflow(product)
            guard !overflow1, !overflow2 else { return nil }
            total = sum
            number = nil
        }
        guard number == nil, !text.isEmpty else { return nil }
        return total
    }

    /// Like ``seconds(_:)``, and also whole seconds without a unit (`"900"`), as command-line
    /// options take them. Negative numbers are refused.
    public static func commandLineSeconds(_ text: String) -> Int64? {
        if let number = Int64(text) { return number >= 0 ? number : nil }
        return seconds(text)
    }
}
