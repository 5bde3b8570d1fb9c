/// authd's release version, reported by `status`, `authd --version` and `authctl --version`.
/// Here, beside the wire types, so that the daemon and its clients name the same release.
public let authdVersion = "0.1.0"
