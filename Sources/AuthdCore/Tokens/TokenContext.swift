/// What issuing and verifying share: the settings, the keys, the clock and the counters.
package struct TokenContext: Sendable {
    let configuration: TokenConfiguration
    let keyRing: KeyRing
    let clock: any UnixClock
    let counters: AuthdCounters
    let denylist: Denylist
    let cache: VerifiedTokenCache
    /// Other fleet nodes' keys; `nil` on a single host.
    let fleet: FleetKeys?
}
