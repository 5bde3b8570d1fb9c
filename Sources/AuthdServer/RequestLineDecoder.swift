package import NIOCore

/// One frame of the line protocol.
package enum RequestFrame: Sendable {
    /// A complete line, without its `\n`.
    case line(ByteBuffer)
    /// A line longer than the limit. Nothing after it is decoded: the connection is answered and closed.
    case tooLong
}

/// Splits the inbound byte stream at `\n`, refusing a line longer than `maximumLineLength`
/// as soon as that many bytes have arrived without a newline, so memory per connection stays bounded.
package struct RequestLineDecoder: ByteToMessageDecoder {
    package typealias InboundOut = RequestFrame

    package let maximumLineLength: Int
    private var overflowed = false
    /// How far the current partial line has been searched already, so a line dribbled in byte by
    /// byte is scanned once rather than once per read.
    private var searched = 0

    package init(maximumLineLength: Int) {
        self.maximumLineLength = maximumLineLength
    }

    package mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard !overflowed else {
            buffer.moveReaderIndex(to: buffer.writerIndex)
            return .needMoreData
        }
        let from = searched
        guard let length = buffer.withUnsafeReadableBytes({ $0.offset(of: UInt8(ascii: "\n"), from: from) }) else {
            searched = buffer.readableBytes
            if buffer.readableBytes > maximumLineLength { emitOverflow(context: context, buffer: &buffer) }
            return .needMoreData
        }
        searched = 0
        guard length <= maximumLineLength else {
            emitOverflow(context: context, buffer: &buffer)
            return .needMoreData
        }
        let line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(Self.wrapInboundOut(.line(line)))
        return .continue
    }

    package mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // A final request without its newline is still answered: the client has said all it will say.
        if !overflowed, buffer.readableBytes > 0, let rest = buffer.readSlice(length: buffer.readableBytes) {
            context.fireChannelRead(Self.wrapInboundOut(.line(rest)))
        }
        return .needMoreData
    }

    private mutating func emitOverflow(context: ChannelHandlerContext, buffer: inout ByteBuffer) {
        overflowed = true
        buffer.moveReaderIndex(to: buffer.writerIndex)
        context.fireChannelRead(Self.wrapInboundOut(.tooLong))
    }
}

/// Gathers the frames decoded from one read into one batch, passed on when the read completes.
///
/// A pipelining client sends many requests per read; answering them as a batch means one hop
/// from the event loop to the connection's task and one write back per read, instead of one per
/// request. Those hops (thread wake-ups) were the largest cost of a `verify` in the profile.
final class RequestBatcher: ChannelInboundHandler {
    typealias InboundIn = RequestFrame
    typealias InboundOut = [RequestFrame]

    private var pending: [RequestFrame] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.append(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flush(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        flush(context: context)
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A half-close ends the input: whatever is pending goes first.
        flush(context: context)
        context.fireUserInboundEventTriggered(event)
    }

    private func flush(context: ChannelHandlerContext) {
        guard !pending.isEmpty else { return }
        let batch = pending
        pending.removeAll(keepingCapacity: true)
        context.fireChannelRead(wrapInboundOut(batch))
    }
}
