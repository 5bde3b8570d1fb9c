/// The protocol version this module speaks. See the README's "Wire protocol" section.
package let authdProtocolVersion = 1

/// One request line: `{"id": …, "op": "…", …fields}`.
package struct RequestEnvelope: Sendable {
    /// The id to echo back, if the client sent one.
    package var id: RequestID?
    /// The operation name.
    package var op: String
    /// The op's own fields: everything but `id` and `op`.
    package var fields: JSONObject

    /// A request envelope.
    package init(id: RequestID? = nil, op: String, fields: JSONObject = [:]) {
        self.id = id
        self.op = op
        self.fields = fields
    }

    /// The maximum nesting accepted in a request line.
    package static let maximumDepth = 32

    /// Parses a request line (without its newline).
    ///
    /// On failure, the thrown error carries the request id when the line got far enough to have
    /// one, so the error reply can still be correlated.
    package static func parse(_ line: UnsafeRawBufferPointer) throws(RequestParseError) -> RequestEnvelope {
        let value: JSONValue
        do {
            value = try JSONParser(maximumDepth: maximumDepth).parse(line)
        } catch {
            throw RequestParseError(id: nil, error: .badRequest("malformed JSON: \(error)"))
        }
        guard case .object(var object) = value else {
            throw RequestParseError(id: nil, error: .badRequest("a request must be a JSON object"))
        }
        var id: RequestID?
        switch object["id"] {
        case nil, .null?: id = nil
        case .string(let text)?: id = .string(text)
        case .int(let number)?: id = .int(number)
        case let other?:
            throw RequestParseError(
                id: nil, error: .badRequest("field 'id' must be a string or an integer, found \(other.typeName)"))
        }
        object["id"] = nil
        guard let opValue = object["op"] else {
            throw RequestParseError(id: id, error: .badRequest("missing field 'op'"))
        }
        guard case .string(let op) = opValue else {
            throw RequestParseError(id: id, error: .badRequest("field 'op' must be a string, found \(opValue.typeName)"))
        }
        object["op"] = nil
        return RequestEnvelope(id: id, op: op, fields: object)
    }

    /// The request as one line of JSON, without the trailing newline.
    package func encoded() -> [UInt8] {
        var object = JSONObject()
        if let id { object["id"] = id.json }
        object["op"] = .string(op)
        for (key, value) in fields.entries { object[key] = value }
        return JSONWriter.bytes(.object(object))
    }
}

/// A request line that could not be understood, with the id if one was read.
package struct RequestParseError: Error, Sendable {
    /// The request's id, when the line was an object with a valid id.
    package var id: RequestID?
    /// The error to reply with.
    package var error: AuthdError
}

/// One reply line: `{"id": …, "ok": true, "result": {…}}` or `{"id": …, "ok": false, "error": {…}}`.
package struct ReplyEnvelope: Sendable {
    /// The id of the request this answers, if it had one.
    package var id: RequestID?
    /// The result or the error.
    package var outcome: Result<JSONObject, AuthdError>

    /// A reply.
    package init(id: RequestID?, outcome: Result<JSONObject, AuthdError>) {
        self.id = id
        self.outcome = outcome
    }

    /// The reply as one line of JSON, without the trailing newline.
    package func encoded() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(256)
        encode(into: &output)
        return output
    }

    /// Appends the reply line, without the trailing newline, to `output`.
    package func encode(into output: inout [UInt8]) {
        var object = JSONObject()
        if let id { object["id"] = id.json }
        switch outcome {
        case .success(let result):
            object["ok"] = true
            object["result"] = .object(result)
        case .failure(let error):
            object["ok"] = false
            object["error"] = .object(["code": .string(error.code.rawValue), "message": .string(error.message)])
        }
        JSONWriter.write(.object(object), into: &output)
    }

    /// Parses a reply line.
    package static func parse(_ line: some Collection<UInt8>) throws(AuthdError) -> ReplyEnvelope {
        let value: JSONValue
        do {
            value = try JSONParser(maximumDepth: 64).parse(line)
        } catch {
            throw AuthdError(.internalError, "malformed reply from authd: \(error)")
        }
        guard case .object(let object) = value, case .bool(let ok)? = object["ok"] else {
            throw AuthdError(.internalError, "malformed reply from authd: not an envelope")
        }
        let id: RequestID? =
            switch object["id"] {
            case .string(let text)?: .string(text)
            case .int(let number)?: .int(number)
            default: nil
            }
        if ok {
            guard case .object(let result)? = object["result"] else {
                throw AuthdError(.internalError, "malformed reply from authd: missing result")
            }
            return ReplyEnvelope(id: id, outcome: .success(result))
        }
        guard case .object(let error)? = object["error"], case .string(let code)? = error["code"] else {
            throw AuthdError(.internalError, "malformed reply from authd: missing error")
        }
        let message = error["message"]?.stringValue ?? ""
        return ReplyEnvelope(id: id, outcome: .failure(AuthdError(AuthdError.Code(rawValue: code), message)))
    }
}
