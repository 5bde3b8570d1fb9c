/// Revoked token ids with their expiries, in one flat table sized for a fleet's millions.
///
/// A revoked token costs one slot of 20 bytes, its 128-bit key (``Denylist/Key``) and a 32-bit
/// expiry, with the table kept between 56 % and 80 % full: about 27 MiB for a million. The keys
/// sit side by side and are found by linear probing, so a lookup (most are misses: nobody revoked
/// the token) reads a few neighbouring words. Slots are placed by Swift's `Hasher`, seeded anew in
/// every process, so ids chosen by whoever may revoke cannot be made to pile up in one run of
/// slots. Entries leave only when they are pruned, by shifting their successors back, so no
/// tombstones accumulate. The table is exact: a key is held or it is not.
///
/// A store builds one as it reads its rows (``build(expectedCount:_:)``); the ``Denylist`` takes it.
public struct RevokedTokenTable: Sendable {
    typealias Key = Denylist.Key

    /// Two words a slot: the key's high and low halves. The key (0, 0) marks an empty slot; that
    /// key itself, should a token have it, is held aside in `zeroKeyExpiry`.
    private var keys: [UInt64]
    private var expiries: [UInt32]
    private var zeroKeyExpiry: UInt32?
    /// Where a batch's reads of its slots go, so that the compiler keeps them.
    private var prefetchSink: UInt64 = 0

    /// How many token ids are held.
    public private(set) var count = 0

    /// An empty table with room for `minimumCapacity` ids before it first grows.
    public init(minimumCapacity: Int = 0) {
        self.init(slots: Self.slots(for: minimumCapacity))
    }

    private init(slots: Int) {
        keys = Array(repeating: 0, count: slots * 2)
        expiries = Array(repeating: 0, count: slots)
    }

    /// Whether no token id is held.
    public var isEmpty: Bool { count == 0 }

    /// How many slots there are.
    var capacity: Int { expiries.count }

    /// The bytes the table's slots take.
    var footprint: Int { capacity * (2 * MemoryLayout<UInt64>.stride + MemoryLayout<UInt32>.stride) }

    /// Slots for `count` ids at 70 % load: room to grow by a seventh before the table must.
    static func slots(for count: Int) -> Int { max(16, Int((Double(count) / 0.7).rounded(.up))) }

    // MARK: Reading

    /// Whether `jti` is held.
    public func contains(jti: String) -> Bool { contains(Denylist.key(for: jti)) }

    func contains(_ key: Key) -> Bool { expiry(of: key) != nil }

    /// The expiry held for `key`, if it is held.
    func expiry(of key: Key) -> Int64? {
        if key.isZero { return zeroKeyExpiry.map(Int64.init) }
        return slot(of: key).map { Int64(expiries[$0]) }
    }

    private func slot(of key: Key) -> Int? {
        keys.withUnsafeBufferPointer { keys in
            var slot = home(of: key)
            while true {
                let high = keys[slot &* 2]
                let low = keys[slot &* 2 &+ 1]
                if high == key.high && low == key.low { return slot }
                if high == 0 && low == 0 { return nil }
                slot = next(slot)
            }
        }
    }

    // MARK: Writing

    /// Holds `jti` until `expiresAt`, or until the later of that and the expiry it already has.
    public mutating func insert(jti: String, expiresAt: Int64) {
        insert(Denylist.key(for: jti), expiresAt: expiresAt)
    }

    mutating func insert(_ key: Key, expiresAt: Int64) {
        if key.isZero {
            insertZeroKey(expiresAt: expiresAt)
            return
        }
        reserve(count + 1)
        place(key, expiresAt: expiresAt, from: home(of: key))
    }

    /// A table of the ids `rows` adds, built for millions: sized for `expectedCount` up front, and
    /// filled a batch at a time, with every slot of a batch read before any is written, so that
    /// the cache and TLB misses of a table larger than the cache overlap instead of queueing. The
    /// ids are UTF-8 bytes as a store reads them, lent only for the call to `add`.
    public static func build<Failure: Error>(
        expectedCount: Int, _ rows: (_ add: (_ jtiUTF8: UnsafeRawBufferPointer, _ expiresAt: Int64) -> Void) throws(Failure) -> Void
    ) throws(Failure) -> RevokedTokenTable {
        var table = RevokedTokenTable(minimumCapacity: expectedCount)
        var batcher = Batcher()
        try rows { bytes, expiresAt in batcher.add(Denylist.key(utf8: bytes), expiresAt: expiresAt, to: &table) }
        batcher.flush(to: &table)
        return table
    }

    /// Entries gathered for ``insert(contentsOf:)``: enough for their misses to cover a memory
    /// access, few enough for the batch to stay in the first-level cache.
    private struct Batcher {
        static let size = 64
        var batch: [(key: Key, expiresAt: Int64)] = []

        init() { batch.reserveCapacity(Self.size) }

        mutating func add(_ key: Key, expiresAt: Int64, to table: inout RevokedTokenTable) {
            batch.append((key, expiresAt))
            if batch.count == Self.size { flush(to: &table) }
        }

        mutating func flush(to table: inout RevokedTokenTable) {
            table.insert(contentsOf: batch)
            batch.removeAll(keepingCapacity: true)
        }
    }

    mutating func insert(contentsOf batch: [(key: Key, expiresAt: Int64)]) {
        reserve(count + batch.count)
        withUnsafeTemporaryAllocation(of: Int.self, capacity: batch.count) { homes in
            for (index, entry) in batch.enumerated() { homes[index] = home(of: entry.key) }
            // Only loads, independent of each other: the processor has them all in flight at once.
            var touched: UInt64 = 0
            keys.withUnsafeBufferPointer { keys in
                for home in homes { touched &+= keys[home &* 2] }
            }
            prefetchSink = touched
            for (index, entry) in batch.enumerated() {
                if entry.key.isZero {
                    insertZeroKey(expiresAt: entry.expiresAt)
                } else {
                    place(entry.key, expiresAt: entry.expiresAt, from: homes[index])
                }
            }
        }
    }

    private mutating func insertZeroKey(expiresAt: Int64) {
        let expiry = UInt32(clamping: expiresAt)
        if zeroKeyExpiry == nil { count += 1 }
        zeroKeyExpiry = max(zeroKeyExpiry ?? expiry, expiry)
    }

    /// Makes room for `total` ids without passing 80 % of the slots.
    private mutating func reserve(_ total: Int) {
        if total * 5 > capacity * 4 { resize(to: Self.slots(for: total * 5 / 4)) }
    }

    /// Puts `key` (not zero) in the run that starts at `home`: raises its expiry if it is there,
    /// else takes the run's first empty slot.
    private mutating func place(_ key: Key, expiresAt: Int64, from home: Int) {
        let expiry = UInt32(clamping: expiresAt)
        let capacity = capacity
        let added = keys.withUnsafeMutableBufferPointer { keys in
            expiries.withUnsafeMutableBufferPointer { expiries in
                var slot = home
                while true {
                    let high = keys[slot &* 2]
                    let low = keys[slot &* 2 &+ 1]
                    if high == key.high && low == key.low {
                        expiries[slot] = max(expiries[slot], expiry)
                        return false
                    }
                    if high == 0 && low == 0 {
                        keys[slot &* 2] = key.high
                        keys[slot &* 2 &+ 1] = key.low
                        expiries[slot] = expiry
                        return true
                    }
                    slot = slot &+ 1 == capacity ? 0 : slot &+ 1
                }
            }
        }
        if added { count += 1 }
    }

    /// Forgets the ids whose expiry is at or before `now`, and gives memory back when most of the
    /// table has become empty. Returns how many were forgotten.
    @discardableResult
    public mutating func removeAll(expiredBy now: Int64) -> Int {
        let before = count
        if let expiry = zeroKeyExpiry, Int64(expiry) <= now {
            zeroKeyExpiry = nil
            count -= 1
        }
        var slot = 0
        while slot < capacity {
            // A removal may shift a later entry into this slot: look at it again.
            if !isEmpty(slot), Int64(expiries[slot]) <= now {
                remove(at: slot)
                count -= 1
            } else {
                slot += 1
            }
        }
        if capacity > 4 * Self.slots(for: count) { resize(to: Self.slots(for: count)) }
        return before - count
    }

    /// Empties `hole` by moving back each later entry of its run that may sit there (its home is
    /// not between the hole and where it sits), until the run ends (Knuth's algorithm R).
    private mutating func remove(at hole: Int) {
        var hole = hole
        var slot = hole
        while true {
            slot = next(slot)
            if isEmpty(slot) { break }
            let home = home(of: Key(high: keys[slot * 2], low: keys[slot * 2 + 1]))
            let staysPut = hole <= slot ? (hole < home && home <= slot) : (hole < home || home <= slot)
            if staysPut { continue }
            keys[hole * 2] = keys[slot * 2]
            keys[hole * 2 + 1] = keys[slot * 2 + 1]
            expiries[hole] = expiries[slot]
            hole = slot
        }
        keys[hole * 2] = 0
        keys[hole * 2 + 1] = 0
        expiries[hole] = 0
    }

    private mutating func resize(to slots: Int) {
        var resized = RevokedTokenTable(slots: slots)
        resized.zeroKeyExpiry = zeroKeyExpiry
        resized.count = zeroKeyExpiry == nil ? 0 : 1
        // A batch at a time, as at load: growing a table of millions holds the denylist's lock.
        var batcher = Batcher()
        for slot in 0..<capacity where !isEmpty(slot) {
            batcher.add(Key(high: keys[slot * 2], low: keys[slot * 2 + 1]), expiresAt: Int64(expiries[slot]), to: &resized)
        }
        batcher.flush(to: &resized)
        self = resized
    }

    // MARK: Slots

    private func isEmpty(_ slot: Int) -> Bool { keys[slot * 2] == 0 && keys[slot * 2 + 1] == 0 }

    private func next(_ slot: Int) -> Int { slot + 1 == capacity ? 0 : slot + 1 }

    /// Where `key`'s run starts: its hash scaled onto the slots (a multiply, not a division).
    private func home(of key: Key) -> Int {
        var hasher = Hasher()
        hasher.combine(key.high)
        hasher.combine(key.low)
        let hash = UInt64(UInt(bitPattern: hasher.finalize()))
        return Int(hash.multipliedFullWidth(by: UInt64(capacity)).high)
    }
}
