/// Reads the fields of a request or result object with precise errors.
///
/// Every field that is read is marked; ``finish()`` then refuses any field nobody asked for. That is
/// deliberate for a security daemon: a misspelt `"role_all"` must be an error, not a verify that
/// silently skipped its role check.
package struct FieldReader {
    private let object: JSONObject
    private let context: String
    // An array, not a set: requests have a handful of fields, and hashing each name cost more than scanning.
    private var consumed: [String] = []

    /// A reader over `object`; `context` names it in errors (for example `"verify request"`).
    package init(_ object: JSONObject, context: String) {
        self.object = object
        self.context = context
    }

    /// Marks `key` as understood without reading it.
    package mutating func ignore(_ key: String) { consumed.append(key) }

    /// The raw value of an optional field, `nil` if absent or `null`.
    package mutating func value(_ key: String) -> JSONValue? {
        consumed.append(key)
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    /// A required string field.
    package mutating func string(_ key: String) throws(AuthdError) -> String {
        guard let value = try optionalString(key) else { throw .badRequest("missing field '\(key)'") }
        return value
    }

    /// An optional string field.
    package mutating func optionalString(_ key: String) throws(AuthdError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let string) = value else { throw typeError(key, "a string", value) }
        return string
    }

    /// An optional boolean field.
    package mutating func optionalBool(_ key: String) throws(AuthdError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw typeError(key, "a boolean", value) }
        return flag
    }

    /// An optional integer field; fractions and numbers outside 64 bits are refused.
    package mutating func optionalInt(_ key: String) throws(AuthdError) -> Int64? {
        guard let value = value(key) else { return nil }
        switch value {
        case .int(let number): return number
        case .double: throw .badRequest("field '\(key)' must be a whole number within 64 bits")
        default: throw typeError(key, "an integer", value)
        }
    }

    /// A required integer field.
    package mutating func int(_ key: String) throws(AuthdError) -> Int64 {
        guard let value = try optionalInt(key) else { throw .badRequest("missing field '\(key)'") }
        return value
    }

    /// An optional array of strings.
    package mutating func optionalStringArray(_ key: String) throws(AuthdError) -> [String]? {
        guard let value = value(key) else { return nil }
        guard case .array(let elements) = value else { throw typeError(key, "an array of strings", value) }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let string) = element else {
                throw .badRequest("field '\(key)' must be an array of strings, found \(element.typeName) in it")
            }
            strings.append(string)
        }
        return strings
    }

    /// An optional field that may be one string or an array of strings, returned as an array.
    package mutating func optionalStringOrArray(_ key: String) throws(AuthdError) -> [String]? {
        guard let value = value(key) else { return nil }
        if case .string(let single) = value { return [single] }
        guard case .array = value else { throw typeError(key, "a string or an array of strings", value) }
        return try optionalStringArray(key)
    }

    /// An optional object field.
    package mutating func optionalObject(_ key: String) throws(AuthdError) -> JSONObject? {
        guard let value = value(key) else { return nil }
        guard case .object(let nested) = value else { throw typeError(key, "an object", value) }
        return nested
    }

    /// A required object field.
    package mutating func object(_ key: String) throws(AuthdError) -> JSONObject {
        guard let value = try optionalObject(key) else { throw .badRequest("missing field '\(key)'") }
        return value
    }

    /// Refuses any field that was not read.
    package func finish() throws(AuthdError) {
        for key in object.keys where !consumed.contains(key) {
            throw .badRequest("unknown field '\(key)' in \(context)")
        }
    }

    private func typeError(_ key: String, _ expected: String, _ found: JSONValue) -> AuthdError {
        .badRequest("field '\(key)' must be \(expected), found \(found.typeName)")
    }
}
