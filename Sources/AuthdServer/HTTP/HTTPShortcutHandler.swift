import NIOCore
import NIOHTTP1

/// Answers, on the event loop that read them, the requests a reverse proxy sends on every request
/// it lets through: heads in ``HTTPShortcutRequest``'s narrow form, whose answer
/// ``HTTPFace/answer(method:uri:headers:)`` has at once. It sits in front of NIO's HTTP handlers
/// and writes the reply's bytes itself, so a proxied `/auth` costs about what a line-protocol
/// verify does.
///
/// Everything else reaches NIO's HTTP handlers, which the handler adds behind itself the first
/// time one is needed (most connections never need them, and every handler in the pipeline is a
/// hop for each read, flush and completed read), and the connection's task, with the bytes in order:
/// - a head outside the form (a body, `Connection: close`, HTTP/1.0, anything malformed, a head
///   over the limit) hands the connection over for good: that request's first byte and all after
///   it go to the decoder, which answers 400 where it must;
/// - a fleet node's `/auth` of a token whose key it must first read from the database goes to the
///   task alone (it is a whole head without a body, so the decoder ends it at once); the requests
///   after it wait here, unread, until the task has written its reply (``taskAnswered()``, told by
///   ``HTTPTaskReplyObserver``), so replies keep request order.
///
/// Nothing is answered before the server admits the connection (``admit()``); a refused one is
/// handed over for its 503. Replies are flushed once per read; while the channel is not writable
/// the handler stops answering and reading, so a client that pipelines without reading holds at
/// most a socket buffer of replies here.
final class HTTPShortcutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Bytes are kept until the server admits or refuses the connection.
        case awaitingAdmission
        case answering
        /// A request went to the task; the bytes after it wait for its reply.
        case awaitingTask
        /// Every byte goes to NIO's decoder.
        case handedOver
        case closed
    }

    private let face: HTTPFace
    private let decoderLimits: NIOHTTPDecoderLimitConfiguration
    private var maximumHeadBytes: Int { decoderLimits.maxHeaderListSize }
    private var maximumFields: Int { decoderLimits.maxHeaderFieldCount }
    private var state = State.awaitingAdmission
    /// Bytes read and not yet answered or handed over.
    private var pending: ByteBuffer?
    private var unflushed = false
    /// A `read` held back while nothing may be answered.
    private var readHeld = false
    private var context: ChannelHandlerContext?
    /// Whether NIO's HTTP handlers are in the pipeline yet.
    private var decoderInstalled = false
    /// How many bytes of ``pending`` a read found to be the start of a head, without its end:
    /// until a blank line arrives after them (or the limit is reached) the head is not read again,
    /// so a head sent a byte at a time costs a search of each new byte, not a read of all so far.
    private var scannedIncomplete = 0

    /// `decoderLimits` bound the heads read here as well (`maxHeaderListSize`, `maxHeaderFieldCount`).
    init(face: HTTPFace, decoderLimits: NIOHTTPDecoderLimitConfiguration) {
        self.face = face
        self.decoderLimits = decoderLimits
    }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        pending = nil
    }

    /// The server counts the connection in: its requests may be answered here.
    func admit() { resumeAnswering(after: .awaitingAdmission) }

    /// The server turns the connection away: the task answers its first request with 503.
    func refuse() {
        guard let context, case .awaitingAdmission = state else { return }
        handOver(context: context)
        releaseHeldRead(context: context)
    }

    /// The task has written the reply to the request handed to it alone.
    func taskAnswered() { resumeAnswering(after: .awaitingTask) }

    private func resumeAnswering(after waiting: State) {
        guard let context, state == waiting else { return }
        state = .answering
        carryOn(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        switch state {
        case .handedOver:
            context.fireChannelRead(data)
            return
        case .closed:
            return
        case .awaitingAdmission, .answering, .awaitingTask:
            break
        }
        if pending == nil {
            pending = bytes
        } else {
            pending!.writeBuffer(&bytes)
        }
        if case .answering = state { answerPending(context: context) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context: context)
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .answering = state, context.channel.isWritable { carryOn(context: context) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        pending = nil
        context.fireChannelInactive()
    }

    func read(context: ChannelHandlerContext) {
        switch state {
        case .handedOver, .closed:
            context.read()
        case .answering where context.channel.isWritable:
            context.read()
        case .answering, .awaitingAdmission, .awaitingTask:
            readHeld = true
        }
    }

    /// Answers the whole heads in ``pending``, in order, until one must go elsewhere, the bytes
    /// run out mid-head, or the channel stops being writable.
    private func answerPending(context: ChannelHandlerContext) {
        while case .answering = state, context.channel.isWritable, let buffer = pending, buffer.readableBytes > 0 {
            if scannedIncomplete > 0, buffer.readableBytes < maximumHeadBytes, !Self.holdsHeadEnd(buffer, after: scannedIncomplete) {
                scannedIncomplete = buffer.readableBytes
                return
            }
            scannedIncomplete = 0
            switch HTTPShortcutRequest.read(buffer, maximumHeadBytes: maximumHeadBytes, maximumFields: maximumFields) {
            case .incomplete:
                scannedIncomplete = buffer.readableBytes
                return
            case .handOver:
                handOver(context: context)
                return
            case .request(let request, let length):
                switch face.answer(method: request.method, uri: request.uri, headers: request.fields) {
                case .now(let reply):
                    pending!.moveReaderIndex(forwardBy: length)
                    face.record(uri: request.uri, status: reply.status)
                    guard let bytes = reply.serialized(headOnly: request.method == .HEAD, allocator: context.channel.allocator) else {
                        state = .closed
                        pending = nil
                        context.close(promise: nil)
                        return
                    }
                    context.write(wrapOutboundOut(bytes), promise: nil)
                    unflushed = true
                case .afterReadingKeys:
                    // The task asks the face again; the head alone is a whole request to the decoder.
                    guard installDecoder(context: context) else { return }
                    let head = pending!.readSlice(length: length)!
                    state = .awaitingTask
                    context.fireChannelRead(wrapInboundOut(head))
                    context.fireChannelReadComplete()
                }
            }
        }
        if pending?.readableBytes == 0 { pending = nil }
    }

    /// Whether a blank line, the end of a head, ends after the first `scanned` bytes (which were
    /// read without one: the newline that ends it must be new).
    private static func holdsHeadEnd(_ buffer: ByteBuffer, after scanned: Int) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            var from = scanned
            while let newline = bytes.offset(of: UInt8(ascii: "\n"), from: from) {
                if newline >= 3, bytes[newline - 3] == UInt8(ascii: "\r"), bytes[newline - 2] == UInt8(ascii: "\n"),
                    bytes[newline - 1] == UInt8(ascii: "\r")
                {
                    return true
                }
                from = newline + 1
            }
            return false
        }
    }

    /// From now on NIO's decoder reads every byte, starting with those not yet answered.
    private func handOver(context: ChannelHandlerContext) {
        guard installDecoder(context: context) else { return }
        state = .handedOver
        if let bytes = pending {
            pending = nil
            context.fireChannelRead(wrapInboundOut(bytes))
            context.fireChannelReadComplete()
        }
    }

    /// Puts NIO's HTTP handlers (decoder, encoder, pipelining, the 400 on a malformed request,
    /// response header validation) and ``HTTPTaskReplyObserver`` behind this handler, once;
    /// `false`, with the connection closed, if the pipeline refuses them.
    private func installDecoder(context: ChannelHandlerContext) -> Bool {
        guard !decoderInstalled else { return true }
        do {
            let pipeline = context.pipeline.syncOperations
            try pipeline.addHandler(HTTPTaskReplyObserver(shortcut: self), position: .after(self))
            try pipeline.configureHTTPServerPipeline(
                position: .after(self), withPipeliningAssistance: true, withErrorHandling: true, withOutboundHeaderValidation: true,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
            decoderInstalled = true
            return true
        } catch {
            state = .closed
            pending = nil
            context.close(promise: nil)
            return false
        }
    }

    /// Answers what has arrived, sends it, and reads again if a read was held back.
    private func carryOn(context: ChannelHandlerContext) {
        answerPending(context: context)
        flushIfNeeded(context: context)
        releaseHeldRead(context: context)
    }

    private func flushIfNeeded(context: ChannelHandlerContext) {
        guard unflushed else { return }
        unflushed = false
        context.flush()
    }

    private func releaseHeldRead(context: ChannelHandlerContext) {
        guard readHeld else { return }
        readHeld = false
        read(context: context)
    }
}

/// At the tail of the HTTP pipeline: tells ``HTTPShortcutHandler`` when the task has written a
/// reply's end. The end has gone down the pipeline to the socket's queue by then, so what the
/// shortcut writes next goes out after it. The shortcut hears of it on the event loop's next turn,
/// not from inside the task's write.
final class HTTPTaskReplyObserver: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let shortcut: HTTPShortcutHandler

    init(shortcut: HTTPShortcutHandler) {
        self.shortcut = shortcut
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd = if case .end = unwrapOutboundIn(data) { true } else { false }
        context.write(data, promise: promise)
        guard isEnd else { return }
        let shortcut = NIOLoopBound(shortcut, eventLoop: context.eventLoop)
        context.eventLoop.execute { shortcut.value.taskAnswered() }
    }
}
