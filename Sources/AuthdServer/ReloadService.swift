public import Logging
public import ServiceLifecycle
import UnixSignals

/// Reloads configuration and keys on SIGHUP, telling the supervisor `RELOADING=1` (with
/// `MONOTONIC_USEC=`) before and `READY=1` after. A reload that fails keeps everything as it was
/// and logs why, so a typo in the file never takes a running daemon down.
public struct ReloadService: Service, CustomStringConvertible {
    private let notifier: any ServiceNotifier
    private let tokens: CurrentTokens
    private let logger: Logger
    private let reload: @Sendable () async throws -> Void

    /// Runs `reload` on each SIGHUP.
    public init(
        notifier: any ServiceNotifier, tokens: CurrentTokens, logger: Logger, reload: @escaping @Sendable () async throws -> Void
    ) {
        self.notifier = notifier
        self.tokens = tokens
        self.logger = logger
        self.reload = reload
    }

    public var description: String { "ReloadService" }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        for await _ in hangups.cancelOnGracefulShutdown() {
            notifier.send(["RELOADING=1", "MONOTONIC_USEC=\(notifier.monotonicMicroseconds())"])
            do {
                try await reload()
                logger.notice("configuration and keys reloaded", metadata: ["authd.op": "reload"])
                notifier.send(["READY=1", StatusLine.describe(tokens.service)])
            } catch {
                logger.error(
                    "reload refused; keeping the running configuration",
                    metadata: ["authd.op": "reload", "authd.error": "\(error)"])
                notifier.send(["READY=1", "STATUS=reload refused: \(error)".replacingNewlines()])
            }
        }
    }
}

extension String {
    fileprivate func replacingNewlines() -> String {
        String(map { $0.isNewline ? " " : $0 })
    }
}
