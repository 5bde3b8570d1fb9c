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

/// Runs ``RequestLineDecoder`` in the pipeline, as NIO's `ByteToMessageHandler` would, for this
/// one decoder only.
///
/// `ByteToMessageHandler` is generic over its decoder and lives in another module, so it ran
/// unspecialized: on every read it looked up the metadata of its `Optional` buffers twice and
/// went through its general state machine (reentrancy, removal, a choice of buffer policies),
/// about a tenth of a hot `verify`'s instructions. The line protocol needs less: bytes of a line
/// begun in one read are kept (compacted before the next read is added, so a connection holds at
/// most one partial line), every complete line is passed on, and when the input ends the last
/// line without its newline is passed on too.
package final class RequestLineHandler: ChannelInboundHandler {
    package typealias InboundIn = ByteBuffer
    package typealias InboundOut = RequestFrame

    private var decoder: RequestLineDecoder
    /// The start of a line that a read did not finish.
    private var partial: ByteBuffer?
    private var inputEnded = false

    package init(maximumLineLength: Int) {
        decoder = RequestLineDecoder(maximumLineLength: maximumLineLength)
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        guard !inputEnded else { return }
        var buffer: ByteBuffer
        if var held = partial {
            // Dropped first, so that `held` is the storage's only reference and grows in place.
            partial = nil
            held.discardReadBytes()
            held.writeBuffer(&incoming)
            buffer = held
        } else {
            buffer = incoming
        }
        decode(context: context, &buffer, last: false)
        // A handler after this one may have closed the connection while a line was passed on;
        // the input has then ended, and what remains of the read is not kept.
        partial = buffer.readableBytes > 0 && !inputEnded ? buffer : nil
    }

    package func channelInactive(context: ChannelHandlerContext) {
        finishInput(context: context)
        context.fireChannelInactive()
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        // A half-close: what the client sent before it is decoded before the event goes on.
        if let event = event as? ChannelEvent, event == .inputClosed { finishInput(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    private func finishInput(context: ChannelHandlerContext) {
        guard !inputEnded else { return }
        inputEnded = true
        var rest = partial ?? context.channel.allocator.buffer(capacity: 0)
        partial = nil
        decode(context: context, &rest, last: true)
    }

    private func decode(context: ChannelHandlerContext, _ buffer: inout ByteBuffer, last: Bool) {
        // Worked on as a copy, not in place: passing a line on can end the input before this
        // returns (a write that fails makes NIO close the connection, and `channelInactive` runs
        // inside this call), and an access to the property held across that would be a conflict.
        var decoder = self.decoder
        defer { self.decoder = decoder }
        do {
            if last {
                _ = try decoder.decodeLast(context: context, buffer: &buffer, seenEOF: true)
            } else {
                while !inputEnded, try decoder.decode(context: context, buffer: &buffer) == .continue {}
            }
        } catch {
            // The decoder does not throw; were it to, the connection's task would see the error.
            context.fireErrorCaught(error)
        }
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
