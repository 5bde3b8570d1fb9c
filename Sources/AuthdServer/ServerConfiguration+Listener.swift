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
