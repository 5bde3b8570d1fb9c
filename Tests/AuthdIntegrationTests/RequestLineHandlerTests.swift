import AuthdServer
import NIOCore
import NIOEmbedded
import Testing

@Suite("The line protocol's handler in a pipeline of its own")
struct RequestLineHandlerTests {
    /// Records the lines it is given and closes the connection at the first.
    final class ClosingHandler: ChannelInboundHandler {
        typealias InboundIn = RequestFrame
        var lines: [String] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .line(let line) = unwrapInboundIn(data) { lines.append(String(buffer: line)) }
            context.close(promise: nil)
        }
    }

    @Test("a handler after it that closes the connection on the first line is given no line after the close")
    func closeWhileDecoding() throws {
        let channel = EmbeddedChannel()
        let closer = ClosingHandler()
        try channel.pipeline.syncOperations.addHandlers(RequestLineHandler(maximumLineLength: 100), closer)
        // The close comes while the handler is still passing on this read's lines.
        _ = try? channel.writeInbound(ByteBuffer(string: "a\nb\nc\npartial"))
        #expect(!channel.isActive)
        #expect(closer.lines == ["a"])
    }

    @Test("a line split over three reads is passed on once, whole, and a last line without its newline at the end")
    func splitLines() throws {
        let channel = EmbeddedChannel(handler: RequestLineHandler(maximumLineLength: 100))
        for part in [#"{"op":"pi"#, #"ng"}"#, "\n{\"op\":", "\"ping\"}\nlast"] {
            try channel.writeInbound(ByteBuffer(string: part))
        }
        _ = try channel.finish()
        var lines: [String] = []
        while let frame = try channel.readInbound(as: RequestFrame.self) {
            if case .line(let line) = frame { lines.append(String(buffer: line)) }
        }
        #expect(lines == [#"{"op":"ping"}"#, #"{"op":"ping"}"#, "last"])
    }
}
