/// A request type of the wire protocol, tied to its op name and its result type.
///
/// Both the daemon and ``AuthdClient`` use these types, so the two cannot disagree about a field.
package protocol AuthdOperation: Sendable {
    /// What a successful reply carries.
    associatedtype Result: AuthdOperationResult
    /// The `op` string on the wire.
    static var op: String { get }
    /// Decodes the request's fields (everything but `id` and `op`), refusing unknown fields.
    init(fields: JSONObject) throws(AuthdError)
    /// The request's fields, for encoding.
    var fields: JSONObject { get }
    /// Whether sending the request twice has the same effect as sending it once, so a client may
    /// retry it on a new connection when the old one died before the reply.
    static var isIdempotent: Bool { get }
}

extension AuthdOperation {
    /// Operations change state unless they say otherwise.
    package static var isIdempotent: Bool { false }
}

/// The `result` object of a successful reply.
package protocol AuthdOperationResult: Sendable {
    /// Decodes a result object.
    init(result: JSONObject) throws(AuthdError)
    /// The result object, for encoding.
    var result: JSONObject { get }
}

extension FieldReader {
    /// A reader over a result object: unknown fields are tolerated, since a newer daemon may add some.
    static func result(_ object: JSONObject) -> FieldReader { FieldReader(object, context: "result") }
}

extension JSONValue {
    /// An array of strings as a JSON array.
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map(JSONValue.string)) }
}
