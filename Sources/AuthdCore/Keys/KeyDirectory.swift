import AuthdProtocol

/// The on-disk home of the asymmetric signing keys: one private file per key in `<state>/keys`.
///
/// Each file is JSON (`kid`, `alg`, `created_at`, `d`) with mode 0600, written atomically. Anything
/// that another user could read or swap (a group- or world-readable file, a symlink) stops startup.
package struct KeyDirectory: Sendable {
    /// The directory path.
    package let path: String

    /// The key directory inside `stateDirectory`.
    package init(stateDirectory: String) {
        self.path = stateDirectory + "/keys"
    }

    /// Creates the directory if needed and checks its permissions.
    package func prepare() throws(StartupError) {
        try PrivateFiles.preparePrivateDirectory(path)
    }

    /// Every stored key, oldest first. Leftover temporary files from an interrupted write are removed.
    package func load() throws(StartupError) -> [SigningKey] {
        var keys: [SigningKey] = []
        for name in try PrivateFiles.directoryEntries(path) {
            let file = path + "/" + name
            if name.contains(".tmp-") {
                try PrivateFiles.remove(file)
                continue
            }
            guard name.hasSuffix(".json") else {
                throw StartupError("unexpected file \(file) in the key directory; remove it")
            }
            keys.append(try decode(try PrivateFiles.readPrivateFile(file, maximumSize: 4096), file: file))
        }
        return keys.sorted { ($0.createdAt, $0.kid) < ($1.createdAt, $1.kid) }
    }

    /// Stores a new key durably.
    package func store(_ key: SigningKey) throws(StartupError) {
        let record: JSONObject = [
            "kid": .string(key.kid), "alg": .string(key.algorithm.name), "created_at": .int(key.createdAt),
            "d": .string(Base64URL.encode(key.privateKeyBytes)),
        ]
        try PrivateFiles.writePrivateFileAtomically(fileName(for: key), JSONWriter.bytes(.object(record)) + [0x0A])
    }

    /// Deletes a retired key's file.
    package func delete(_ key: SigningKey) throws(StartupError) {
        try PrivateFiles.remove(fileName(for: key))
    }

    private func fileName(for key: SigningKey) -> String { "\(path)/\(key.createdAt)-\(key.kid).json" }

    private func decode(_ bytes: [UInt8], file: String) throws(StartupError) -> SigningKey {
        guard case .object(let record)? = try? JSONParser(maximumDepth: 2).parse(bytes),
            case .string(let algName)? = record["alg"], let algorithm = SigningAlgorithm(name: algName),
            case .int(let createdAt)? = record["created_at"],
            case .string(let encoded)? = record["d"], let privateKey = Base64URL.decode(encoded),
            case .string(let kid)? = record["kid"]
        else { throw StartupError("key file \(file) is corrupt") }
        let key: SigningKey
        do {
            key = try SigningKey.restore(algorithm, privateKey: privateKey, createdAt: createdAt)
        } catch {
            throw StartupError("key file \(file) holds an unusable key: \(error)")
        }
        guard key.kid == kid else { throw StartupError("key file \(file) does not match its kid") }
        return key
    }
}
