public import AuthdCore

extension AuthdServer.Configuration {
    /// The listener `[server]` describes, at `address`. Timeouts of 0 in the file mean none.
    public init(_ server: ServerConfiguration, address: ListenAddress) {
        self.init(
            address: address, maximumLineLength: server.maximumLineLength, socketMode: server.socketMode,
            limits: ConnectionLimits(total: server.maximumConnections, perUID: server.maximumConnectionsPerUID),
            idleTimeout: Self.timeout(server.idleTimeout), lineTimeout: Self.timeout(server.lineTimeout),
            maximumPendingReplyBytes: server.maximumPendingReplyBytes)
    }

    private static func timeout(_ seconds: Int64) -> Duration? { seconds > 0 ? .seconds(seconds) : nil }
}

extension HTTPServer.Configuration {
    /// The HTTP face `[http]` describes, at `addresses`, with the `[server]` connection limits and
    /// timeouts (the request timeout is `server.line_timeout`).
    public init(_ http: HTTPConfiguration, server: ServerConfiguration, addresses: [ListenAddress]) {
        self.init(
            addresses: addresses, socketMode: http.socketMode,
            limits: ConnectionLimits(total: server.maximumConnections, perUID: server.maximumConnectionsPerUID),
            idleTimeout: server.idleTimeout > 0 ? .seconds(server.idleTimeout) : nil,
            requestTimeout: server.lineTimeout > 0 ? .seconds(server.lineTimeout) : nil,
            maximumHeaderBytes: http.maximumHeaderBytes, maximumBodyBytes: http.maximumBodyBytes)
    }
}

extension HTTPConfiguration.Address {
    /// The listener for this address.
    var listenAddress: ListenAddress {
        switch self {
        case .unixSocket(let path): .unixDomainSocket(path: path)
        case .tcp(let host, let port): .tcp(host: host, port: port)
        }
    }
}
