import AuthdProtocol
import NIOCore

/// Splits the daemon's replies at `\n`. Replies are bounded by the daemon; the cap only guards
/// against talking to something that is not authd.
struct ReplyLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    static let maximumReplyLength = 16 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maximumReplyLength {
                throw AuthdError(.internalError, "reply longer than \(Self.maximumReplyLength) bytes")
            }
            return .needMoreData
        }
        let line = buffer.readSlice(length: newline - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Matches replies to requests. authd answers the requests of one connection in order, so a FIFO
/// of promises is all the bookkeeping pipelining needs; it runs on the channel's event loop, so the
/// order promises are queued is the order their bytes are written.
final class ReplyPipelineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = (ByteBuffer, EventLoopPromise<ByteBuffer>)
    typealias OutboundOut = ByteBuffer

    private var pending = CircularBuffer<EventLoopPromise<ByteBuffer>>(initialCapacity: 16)
    private var failure: AuthdError?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let (request, replyPromise) = unwrapOutboundIn(data)
        if let failure {
            replyPromise.fail(failure)
            promise?.fail(failure)
            return
        }
        pending.append(replyPromise)
        context.write(wrapOutboundOut(request), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = unwrapInboundIn(data)
        guard let promise = pending.popFirst() else {
            // A reply nobody asked for means the stream is out of step: trust nothing after it.
            failAll(AuthdError(.internalError, "unexpected reply from authd"))
            context.close(promise: nil)
            return
        }
        promise.succeed(reply)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(AuthdError(.daemonUnreachable, "connection to authd closed before the reply"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error as? AuthdError ?? AuthdError(.daemonUnreachable, "connection to authd failed: \(error)"))
        context.close(promise: nil)
    }

    private func failAll(_ error: AuthdError) {
        if failure == nil { failure = error }
        while let promise = pending.popFirst() { promise.fail(error) }
    }
}
