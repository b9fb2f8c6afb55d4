/// The trie of one view's term keys, flattened into arrays and walked natively to tell whether a term could
/// start at a position, before any PCRE2 pattern runs there.
///
/// PCRE2 tries a trie node's alternatives one after another, so with thousands of terms every attempt scanned
/// hundreds of first characters (10,000 terms cost 15× what 10 did). The walk follows the text scalar by
/// scalar down the trie, a binary search per step, and stops at the first scalar no key continues with: its
/// cost depends on how far the text agrees with some key, not on how many keys there are. It only rules
/// positions out: where it reaches the end of a key (or cannot decide: a multi-word key's separator, a
/// letter whose case it would have to fold) the chunk patterns run as before and decide, boundaries and all.
struct TermPrefixIndex: Sendable {
    /// Per node: the first edge and the number of edges (edges sorted by atom), and flags.
    private var edgeStart: [Int32] = []
    private var edgeCount: [Int32] = []
    private var flags: [UInt8] = []
    private var edgeAtoms: [UInt32] = []
    private var edgeTargets: [Int32] = []
    /// Whether letters may repeat (the skeleton view's stretched letters).
    private let stretchable: Bool
    /// Whether the view is matched caseless against unfolded text (raw).
    private let caseless: Bool

    static let terminal: UInt8 = 1
    static let beforeSeparator: UInt8 = 2
    /// Roots: Latin keys (node 0) and Han keys (node 1).
    static let latinRoot = 0
    static let hanRoot = 1

    /// The index of `trie`'s keys as matched in `view`.
    init(_ trie: TermTrie, view: ViewKind) {
        stretchable = view == .skeleton
        caseless = view == .raw
        var queue = trie.roots
        var index = 0
        while index < queue.count {
            let node = queue[index]
            var nodeFlags: UInt8 = node.terminal != nil ? Self.terminal : 0
            var edges: [(UInt32, Int32)] = []
            for (atom, child) in node.children {
                switch atom {
                case .separator: nodeFlags |= Self.beforeSeparator
                case .scalar(let value):
                    edges.append((value, Int32(queue.count)))
                    queue.append(child)
                }
            }
            edges.sort { $0.0 < $1.0 }
            edgeStart.append(Int32(edgeAtoms.count))
            edgeCount.append(Int32(edges.count))
            flags.append(nodeFlags)
            edgeAtoms += edges.map(\.0)
            edgeTargets += edges.map(\.1)
            index += 1
        }
    }

    /// Whether some key of the tree at `root` may match `subject` from byte `position` (false: none can).
    /// A stretched letter may either repeat or go on to the key's next atom when that is the same letter, so
    /// the walk keeps both paths (a few, bounded; past the bound it answers true and lets PCRE2 decide).
    func mayMatch(_ subject: UnsafeBufferPointer<UInt8>, at position: Int, root: Int) -> Bool {
        guard root < flags.count else { return false }
        let tables = ScalarTables.shared
        // Pending paths: node, byte offset, the letter last matched (0: none).
        var pending: [(node: Int, offset: Int, previous: UInt32)] = [(root, position, 0)]
        var steps = 0
        while let (start, startOffset, startPrevious) = pending.popLast() {
            var node = start, offset = startOffset, previous = startPrevious
            while true {
                steps += 1
                if steps > 512 { return true }
                if flags[node] != 0 { return true }  // a key ends here, or a separator follows: PCRE2 decides
                guard offset < subject.count, let (scalar, width) = Self.decode(subject, at: offset) else { break }
                var value = scalar.value
                if caseless {
                    if value >= 0x41 && value <= 0x5A {
                        value += 0x20
                    } else if value >= 0x80 && scalar.properties.changesWhenCaseMapped {
                        return true  // PCRE2's caseless match may see a key here; not worth folding by hand
                    }
                }
                let repeats = stretchable && value == previous && tables.scalarClass(scalar) == .letter
                if let next = child(of: node, value) {
                    if repeats { pending.append((node, offset + width, previous)) }
                    node = next
                    previous = value
                } else if !repeats {
                    break
                }
                offset += width
            }
        }
        return false
    }

    private func child(of node: Int, _ value: UInt32) -> Int? {
        var low = Int(edgeStart[node])
        var high = low + Int(edgeCount[node])
        while low < high {
            let middle = (low + high) / 2
            let atom = edgeAtoms[middle]
            if atom == value { return Int(edgeTargets[middle]) }
            if atom < value { low = middle + 1 } else { high = middle }
        }
        return nil
    }

    /// The scalar starting at byte `offset` of valid UTF-8, and its width.
    @inline(__always)
    private static func decode(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (Unicode.Scalar, Int)? {
        let lead = UInt32(bytes[offset])
        if lead < 0x80 { return (Unicode.Scalar(UInt8(lead)), 1) }
        let width = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2
        guard offset + width <= bytes.count else { return nil }
        var value = lead & (width == 2 ? 0x1F : width == 3 ? 0x0F : 0x07)
        for k in 1..<width { value = value << 6 | UInt32(bytes[offset + k] & 0x3F) }
        guard let scalar = Unicode.Scalar(value) else { return nil }
        return (scalar, width)
    }
}
