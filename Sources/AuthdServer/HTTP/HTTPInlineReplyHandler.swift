import NIOCore
import NIOHTTP1

/// The HTTP face's counterpart of ``InlineReplyHandler``: a request without a body on a kept-alive
/// connection is answered on the event loop that read it, when ``HTTPFace/answer(method:uri:headers:)``
/// has the answer at once (every request but a fleet node's `/auth` of a token whose key it must
/// first read). A reverse proxy asks `/auth` on every request it lets through, so this is its latency.
///
/// Anything else goes on to the connection's task as before: a request with a body (the task
/// enforces the body limit), one that closes the connection, one on a connection that is not
/// writable or not yet admitted, and every request after one the task still owes a response to
/// (counted by the `.end` parts it writes), so responses keep request order.
final class HTTPInlineReplyHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let face: HTTPFace
    private var admitted = false
    /// Requests passed on to the task whose responses it has not finished writing.
    private var owedByTask = 0
    /// The head of a request that may be answered here, held until its end (or its first body
    /// part, which sends it to the task).
    private var held: HTTPRequestHead?
    /// Whether a response was written here since the last flush.
    private var unflushed = false

    init(face: HTTPFace) {
        self.face = face
    }

    /// Called on the event loop once the connection is admitted.
    func admit() { admitted = true }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if admitted, owedByTask == 0, head.isKeepAlive, context.channel.isWritable {
                held = head
                return
            }
            owedByTask += 1
            context.fireChannelRead(data)
        case .body:
            passOnHeld(context: context)
            context.fireChannelRead(data)
        case .end:
            if let head = held {
                held = nil
                if case .now(let reply) = face.answer(method: head.method, uri: head.uri, headers: head.headers) {
                    face.record(uri: head.uri, status: reply.status)
                    for part in reply.responseParts(keepAlive: true, headOnly: head.method == .HEAD) {
                        context.write(wrapOutboundOut(part), promise: nil)
                    }
                    unflushed = true
                    return
                }
                owedByTask += 1
                context.fireChannelRead(wrapInboundOut(.head(head)))
            }
            context.fireChannelRead(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if unflushed {
            unflushed = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if owedByTask > 0, case .end = unwrapOutboundIn(data) { owedByTask -= 1 }
        context.write(data, promise: promise)
    }

    private func passOnHeld(context: ChannelHandlerContext) {
        guard let head = held else { return }
        held = nil
        owedByTask += 1
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
