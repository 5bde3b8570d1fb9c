/// A request with no fields.
package protocol FieldlessOperation: AuthdOperation {
    /// The request.
    init()
}

extension FieldlessOperation {
    package init(fields: JSONObject) throws(AuthdError) {
        try FieldReader(fields, context: "\(Self.op) request").finish()
        self.init()
    }

    package var fields: JSONObject { [:] }
}

/// `ping`: check that the daemon answers.
public struct PingRequest: FieldlessOperation {
    package typealias Result = PingResult
    package static let op = "ping"
    package static let isIdempotent = true
    public init() {}
}

/// The (empty) result of `ping`.
public struct PingResult: AuthdOperationResult {
    public init() {}
    package init(result: JSONObject) throws(AuthdError) {}
    package var result: JSONObject { [:] }
}

/// `jwks`: the public signing keys, so that a service elsewhere can verify tokens offline.
public struct JWKSRequest: FieldlessOperation {
    package typealias Result = JWKSResult
    package static let op = "jwks"
    package static let isIdempotent = true
    public init() {}
}

/// The result of `jwks`: an RFC 7517 JWK Set.
public struct JWKSResult: AuthdOperationResult, Hashable {
    /// The public keys, as JWK objects (`kty`, `crv`, `x`, `kid`, `alg`, `use`, …).
    public var keys: [JSONObject]

    /// A key set.
    public init(keys: [JSONObject]) { self.keys = keys }

    package init(result: JSONObject) throws(AuthdError) {
        guard case .array(let elements)? = result["keys"] else { throw AuthdError(.internalError, "jwks reply without keys") }
        keys = elements.compactMap(\.objectValue)
    }

    package var result: JSONObject { ["keys": .array(keys.map(JSONValue.object))] }
}

/// `status`: the daemon's version, uptime, keys and counters.
public struct StatusRequest: FieldlessOperation {
    package typealias Result = StatusResult
    package static let op = "status"
    package static let isIdempotent = true
    public init() {}
}

/// The result of `status`.
public struct StatusResult: AuthdOperationResult, Hashable {
    /// authd's version.
    public var version: String
    /// Seconds since the daemon started.
    public var uptimeSeconds: Int64
    /// The key id new tokens are signed with.
    public var activeKid: String
    /// Every key id that still verifies tokens.
    public var keyIds: [String]
    /// Tokens issued since start.
    public var issued: Int64
    /// Tokens verified successfully since start.
    public var verified: Int64
    /// Verifications refused since start.
    public var rejected: Int64
    /// Connections open now.
    public var connections: Int64
    /// The daemon's process id (for tools that read its CPU time and memory from `/proc`).
    public var pid: Int64?
    /// On a fleet node, its standing with the shared database; `nil` on a single host.
    public var fleet: FleetStatus?

    /// A status result.
    public init(
        version: String, uptimeSeconds: Int64, activeKid: String, keyIds: [String], issued: Int64, verified: Int64,
        rejected: Int64, connections: Int64, pid: Int64? = nil
    ) {
        self.pid = pid
        self.version = version
        self.uptimeSeconds = uptimeSeconds
        self.activeKid = activeKid
        self.keyIds = keyIds
        self.issued = issued
        self.verified = verified
        self.rejected = rejected
        self.connections = connections
    }

    package init(result: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(result)
        version = try reader.string("version")
        uptimeSeconds = try reader.int("uptime_s")
        activeKid = try reader.string("active_kid")
        keyIds = try reader.optionalStringArray("key_ids") ?? []
        let counters = try reader.object("counters")
        var counterReader = FieldReader.result(counters)
        issued = try counterReader.int("issued")
        verified = try counterReader.int("verified")
        rejected = try counterReader.int("rejected")
        connections = try reader.int("connections")
        pid = try reader.optionalInt("pid")
        fleet = try reader.optionalObject("fleet").map { object throws(AuthdError) in try FleetStatus(object) }
    }

    package var result: JSONObject {
        var object: JSONObject = [
            "version": .string(version), "uptime_s": .int(uptimeSeconds), "active_kid": .string(activeKid),
            "key_ids": .strings(keyIds),
            "counters": .object(["issued": .int(issued), "verified": .int(verified), "rejected": .int(rejected)]),
            "connections": .int(connections),
        ]
        if let pid { object["pid"] = .int(pid) }
        if let fleet { object["fleet"] = .object(fleet.json) }
        return object
    }
}

/// A fleet node's standing with the shared database, in `status`.
public struct FleetStatus: Sendable, Hashable {
    /// This node's name.
    public var node: String
    /// Whether the node holds a live connection to the database.
    public var connected: Bool
    /// The sequence number of the last fleet revocation event applied here.
    public var appliedSeq: Int64
    /// Seconds since the node last caught up with the fleet's revocations.
    public var stalenessSeconds: Int64
    /// Whether that exceeds the node's `max_staleness`.
    public var stale: Bool

    /// A fleet status.
    public init(node: String, connected: Bool, appliedSeq: Int64, stalenessSeconds: Int64, stale: Bool) {
        self.node = node
        self.connected = connected
        self.appliedSeq = appliedSeq
        self.stalenessSeconds = stalenessSeconds
        self.stale = stale
    }

    init(_ object: JSONObject) throws(AuthdError) {
        var reader = FieldReader.result(object)
        node = try reader.string("node")
        connected = try reader.optionalBool("connected") ?? false
        appliedSeq = try reader.int("applied_seq")
        stalenessSeconds = try reader.int("staleness_s")
        stale = try reader.optionalBool("stale") ?? false
    }

    var json: JSONObject {
        [
            "node": .string(node), "connected": .bool(connected), "applied_seq": .int(appliedSeq),
            "staleness_s": .int(stalenessSeconds), "stale": .bool(stale),
        ]
    }
}
