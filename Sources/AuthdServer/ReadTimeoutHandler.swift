import NIOCore

/// Closes connections that hold a slot without making progress: one on which nothing is read or
/// written for `idleTimeout` (a reply still being worked on is not idleness: it ends in a write),
/// and one that has begun a request but not finished it within `lineTimeout` (a client dribbling
/// a byte at a time). Either is logged once, when the connection is closed.
///
/// What "a request begun" means depends on the protocol: for the line protocol, bytes after the
/// last newline; for HTTP, whose heads are many lines, bytes received since the last reply was
/// written, so a client that sends a header line now and then cannot hold a connection.
final class ReadTimeoutHandler: ChannelDuplexHandler {
    /// How the handler tells that a request is in progress.
    enum Framing {
        /// A request ends with a newline.
        case lines
        /// A request is answered by a write: bytes read since the last write are a request in progress.
        case answeredRequests
    }

    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let idleTimeout: TimeAmount?
    private let lineTimeout: TimeAmount?
    private let framing: Framing
    private let onTimeout: @Sendable (_ reason: String) -> Void
    private var lastActivity = NIODeadline.now()
    private var partialLineSince: NIODeadline?
    private var check: RepeatedTask?

    /// `nil` turns a timeout off.
    init(
        idleTimeout: TimeAmount?, lineTimeout: TimeAmount?, framing: Framing = .lines,
        onTimeout: @escaping @Sendable (_ reason: String) -> Void
    ) {
        self.idleTimeout = idleTimeout
        self.lineTimeout = lineTimeout
        self.framing = framing
        self.onTimeout = onTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let timeouts = [idleTimeout, lineTimeout].compactMap { $0 }
        guard let shortest = timeouts.min() else { return }
        // Checking a few times per timeout keeps the overshoot small without a timer per read.
        let interval = max(TimeAmount.milliseconds(50), min(.seconds(1), .nanoseconds(shortest.nanoseconds / 4)))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (handler, context) = bound.value
            handler.checkDeadlines(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let now = NIODeadline.now()
        lastActivity = now
        let view = buffer.readableBytesView
        if framing == .answeredRequests {
            if partialLineSince == nil, !view.isEmpty { partialLineSince = now }
        } else if view.last == UInt8(ascii: "\n") {
            partialLineSince = nil
        } else if partialLineSince == nil || view.contains(UInt8(ascii: "\n")) {
            // A new line has begun in this read: its clock starts now.
            partialLineSince = now
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        if framing == .answeredRequests { partialLineSince = nil }
        context.write(data, promise: promise)
    }

    private func checkDeadlines(context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        if let lineTimeout, let since = partialLineSince, now - since > lineTimeout {
            let what = framing == .lines ? "a request line was not completed" : "a request was not completed"
            close(context, reason: "\(what) within \(lineTimeout.nanoseconds / 1_000_000) ms")
        } else if let idleTimeout, partialLineSince == nil, now - lastActivity > idleTimeout {
            close(context, reason: "no request for \(idleTimeout.nanoseconds / 1_000_000_000) s")
        }
    }

    private func close(_ context: ChannelHandlerContext, reason: String) {
        check?.cancel()
        check = nil
        onTimeout(reason)
        context.close(promise: nil)
    }
}
