import AuthdCore
import Logging

/// What a reload (SIGHUP) changes: the token settings and keys, and the caller policy. Everything
/// is read and checked first and swapped in only if all of it is valid; settings that only a
/// restart can apply are named in a warning.
struct Reloader: Sendable {
    let running: AuthdDaemon.Settings
    let read: @Sendable () throws -> AuthdDaemon.Settings
    let tokens: CurrentTokens
    let policy: CurrentPolicy
    let counters: AuthdCounters
    let denylist: Denylist
    let clock: any UnixClock
    let logger: Logger

    func reload() async throws {
        let fresh = try read()
        guard fresh.stateDirectory == running.stateDirectory else {
            throw StartupError("state.directory cannot change while running; restart authd")
        }
        if fresh.configuration.server != running.configuration.server || fresh.socketPath != running.socketPath {
            logger.warning("changes to [server] take effect when authd restarts")
        }
        if fresh.configuration.users != running.configuration.users {
            logger.warning("changes to [users] take effect when authd restarts")
        }
        if fresh.configuration.http != running.configuration.http {
            logger.warning("changes to [http] take effect when authd restarts")
        }
        if fresh.configuration.fleet != running.configuration.fleet {
            logger.warning("changes to [fleet] take effect when authd restarts")
        }
        let reloaded = try TokenService(
            configuration: fresh.configuration.tokens, stateDirectory: fresh.stateDirectory, clock: clock, counters: counters,
            denylist: denylist, fleet: tokens.service.fleet, logger: logger)
        tokens.replace(with: reloaded)
        policy.replace(with: fresh.configuration.policy)
    }
}
