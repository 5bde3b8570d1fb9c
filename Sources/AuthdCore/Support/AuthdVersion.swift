/// authd's release version, reported by `status` and `--version`.
public let authdVersion = "0.1.0"
