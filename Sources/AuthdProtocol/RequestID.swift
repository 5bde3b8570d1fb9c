/// The optional `id` of a request, echoed back in its reply so that a client can correlate them.
package enum RequestID: Sendable, Hashable {
    case string(String)
    case int(Int64)

    /// The id as it appears on the wire.
    package var json: JSONValue {
        switch self {
        case .string(let value): .string(value)
        case .int(let value): .int(value)
        }
    }
}
