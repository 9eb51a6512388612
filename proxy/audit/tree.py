"""RFC 6962 Merkle tree stored the way Go's sumdb ``tlog`` stores it (pure, no I/O).

Every complete subtree's hash lives at its *stored-hash index*. Each operation is a pair: a
``*_needed`` function listing the O(log n) indexes it reads, and a compute step taking a
``Mapping[int, bytes]`` that holds them, so the async caller can fetch the rows first. The
compute step reads exactly the listed indexes; a missing one surfaces as ``KeyError``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence

HASH_SIZE = 32
# RFC 6962 §2.1: MTH({}) = SHA-256(). (Go's tlog returns all zeros; RFC 9162 verifiers and
# C2SP checkpoints of an empty log expect this.)
EMPTY_ROOT = hashlib.sha256(b"").digest()

Range = tuple[int, int]  # records [lo, hi): every proof hash is the hash of one such range


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the record hash of one log entry."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check(name: str, value: int) -> None:
    # bool is an int subclass; a True index is a caller bug, not record 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")


def _maxpow2(n: int) -> tuple[int, int]:
    """Largest power of two k < n (n >= 2), and log2(k)."""
    level = (n - 1).bit_length() - 1
    return 1 << level, level


def _trailing_zeros(x: int) -> int:
    return (x & -x).bit_length() - 1


# --- stored-hash layout (Crosby & Wallach §3.3, as Go's tlog) --------------------------------


def stored_hash_index(level: int, n: int) -> int:
    """Dense index of the hash of the n'th subtree of 2**level records."""
    _check("level", level)
    _check("n", n)
    # Level L's n'th hash is written right after level L+1's (2n+1)'th hash, so walk down to
    # level 0, where record n's hash is at n + n/2 + n/4 + ...; then add back the level.
    n = ((n + 1) << level) - 1
    i = 0
    while n > 0:
        i += n
        n >>= 1
    return i + level


def split_stored_hash_index(index: int) -> tuple[int, int]:
    """Inverse of :func:`stored_hash_index`: (level, n)."""
    _check("index", index)
    # stored_hash_index(0, n) < 2n, so the record that wrote `index` is n >= index/2.
    n = index // 2
    index_n = stored_hash_index(0, n)
    while (x := index_n + 1 + _trailing_zeros(n + 1)) <= index:
        n += 1  # record n adds 1 + trailing_zeros(n + 1) hashes
        index_n = x
    level = index - index_n
    return level, n >> level


def stored_hash_count(n: int) -> int:
    """Number of stored hashes in a tree of n records."""
    _check("n", n)
    if n == 0:
        return 0
    # Record n-1's hash, then one more per subtree it completes (trailing 1 bits of n-1).
    return stored_hash_index(0, n - 1) + 1 + _trailing_zeros(n)


# --- appending ---------------------------------------------------------------------------------


def stored_hashes_needed(n: int) -> list[int]:
    """Indexes :func:`stored_hashes` reads when appending record n (sorted)."""
    _check("n", n)
    # Each trailing 1 bit of n completes a subtree whose left sibling is already stored.
    return [stored_hash_index(i, (n >> i) - 1) for i in reversed(range(_trailing_zeros(n + 1)))]


def _stored_hashes(n: int, record_hash: bytes, get: Callable[[int], bytes]) -> list[bytes]:
    hashes = [record_hash]
    for i in range(_trailing_zeros(n + 1)):
        hashes.append(node_hash(get(stored_hash_index(i, (n >> i) - 1)), hashes[-1]))
    return hashes


def stored_hashes(n: int, data: bytes, read: Mapping[int, bytes]) -> list[bytes]:
    """Hashes to store for record n appended to a tree of n records, at indexes
    ``stored_hash_count(n) .. stored_hash_count(n + 1) - 1`` (Go's StoredHashes)."""
    _check("n", n)
    return _stored_hashes(n, leaf_hash(data), lambda i: _read(read, i))


def append_batch_needed(start: int, k: int) -> list[int]:
    """Pre-existing indexes (< stored_hash_count(start)) that :func:`append_batch` reads."""
    _check("start", start)
    _check("k", k)
    have = stored_hash_count(start)
    # Each stored hash is read once, as the left sibling of a subtree being completed, so
    # this is at most the popcount(start) subtrees on the old tree's right edge.
    return sorted({i for n in range(start, start + k) for i in stored_hashes_needed(n) if i < have})


def append_batch(
    start: int, leaves: Sequence[bytes], read: Mapping[int, bytes]
) -> dict[int, bytes]:
    """Every new stored hash (index -> hash) for appending ``leaves`` (entry data) to a tree
    of ``start`` records; ``read`` holds at least :func:`append_batch_needed`."""
    _check("start", start)
    new: dict[int, bytes] = {}

    def get(i: int) -> bytes:  # hashes written earlier in this batch are not stored yet
        return new[i] if i in new else _read(read, i)

    for n, data in enumerate(leaves, start):
        first = stored_hash_index(0, n)
        for j, h in enumerate(_stored_hashes(n, leaf_hash(data), get)):
            new[first + j] = h
    return new


def append_to_edge(
    start: int, leaves: Sequence[bytes], edge: Sequence[bytes]
) -> tuple[list[bytes], list[bytes]]:
    """What :func:`append_batch` computes, from the right edge alone and grouped by record:
    for each leaf, the stored hashes appending it writes, concatenated (32 bytes each, level 0
    first, at ``stored_hash_index(0, n)`` onwards); and the new right edge. ``edge`` holds the
    hashes at :func:`tree_hash_needed` ``(start)``, in that order: the complete subtrees of the
    old tree, left to right, so each completed subtree's left sibling is the last one."""
    _check("start", start)
    if len(edge) != start.bit_count():
        raise ValueError(f"a tree of {start} records has {start.bit_count()} edge hashes")
    stack = list(edge)
    push, pop, sha = stack.append, stack.pop, hashlib.sha256
    out: list[bytes] = []
    for n, data in enumerate(leaves, start):  # the writer's hot loop: locals only
        h = blob = sha(b"\x00" + data).digest()
        m = n
        while m & 1:  # each trailing 1 bit completes a subtree with the edge's last hash
            h = sha(b"\x01" + pop() + h).digest()
            blob += h
            m >>= 1
        push(h)
        out.append(blob)
    return out, stack


# --- reading: tree hash and proofs -------------------------------------------------------------


def _read(read: Mapping[int, bytes], index: int) -> bytes:
    h = read[index]
    if len(h) != HASH_SIZE:
        raise ValueError(f"stored hash {index} has {len(h)} bytes, want {HASH_SIZE}")
    return h


def _subtrees(lo: int, hi: int) -> list[int]:
    """Indexes of the complete subtrees making up records [lo, hi), left to right
    (Go's subTreeIndex)."""
    need = []
    while lo < hi:
        k, level = _maxpow2(hi - lo + 1)
        need.append(stored_hash_index(level, lo >> level))
        lo += k
    return need


def _range_hash(lo: int, hi: int, read: Mapping[int, bytes]) -> bytes:
    """RFC 6962 hash of records [lo, hi): fold its complete subtrees from the right."""
    parts = [_read(read, i) for i in _subtrees(lo, hi)]
    h = parts[-1]
    for left in reversed(parts[:-1]):
        h = node_hash(left, h)
    return h


def _needed(ranges: list[Range]) -> list[int]:
    return sorted(i for lo, hi in ranges for i in _subtrees(lo, hi))  # ranges are disjoint


def _leaf_ranges(lo: int, hi: int, n: int) -> list[Range]:
    """Ranges whose hashes prove record n in [lo, hi), bottom-up (Go's leafProof)."""
    if lo + 1 == hi:  # the verifier has the leaf hash itself
        return []
    k, _ = _maxpow2(hi - lo)
    if n < lo + k:
        return [*_leaf_ranges(lo, lo + k, n), (lo + k, hi)]
    return [*_leaf_ranges(lo + k, hi, n), (lo, lo + k)]


def _tree_ranges(lo: int, hi: int, n: int) -> list[Range]:
    """Ranges proving [lo, hi) extends the old tree of n records (Go's treeProof)."""
    if n == hi:  # the old tree's part of this subtree; the verifier has it when lo == 0
        return [] if lo == 0 else [(lo, hi)]
    k, _ = _maxpow2(hi - lo)
    if n <= lo + k:
        return [*_tree_ranges(lo, lo + k, n), (lo + k, hi)]
    return [*_tree_ranges(lo + k, hi, n), (lo, lo + k)]


def tree_hash_needed(n: int) -> list[int]:
    """Indexes :func:`tree_hash` reads (at most 1 + log2 n)."""
    _check("n", n)
    return _subtrees(0, n)


def tree_hash(n: int, read: Mapping[int, bytes]) -> bytes:
    """Root hash of the first n records; :data:`EMPTY_ROOT` for n = 0."""
    _check("n", n)
    return _range_hash(0, n, read) if n else EMPTY_ROOT


def _inclusion_ranges(t: int, n: int) -> list[Range]:
    _check("t", t)
    _check("n", n)
    if n >= t:
        raise ValueError(f"record {n} is not in a tree of {t} records")
    return _leaf_ranges(0, t, n)


def inclusion_proof_needed(t: int, n: int) -> list[int]:
    """Indexes :func:`inclusion_proof` reads."""
    return _needed(_inclusion_ranges(t, n))


def inclusion_proof(t: int, n: int, read: Mapping[int, bytes]) -> list[bytes]:
    """RFC 6962 audit path for record n in the tree of t records (Go's ProveRecord)."""
    return [_range_hash(lo, hi, read) for lo, hi in _inclusion_ranges(t, n)]


def _consistency_ranges(t1: int, t2: int) -> list[Range]:
    _check("t1", t1)
    _check("t2", t2)
    if t1 == 0:
        raise ValueError("consistency proof from the empty tree is meaningless (t1 = 0)")
    if t1 > t2:
        raise ValueError(f"old size {t1} is larger than new size {t2}")
    return _tree_ranges(0, t2, t1)


def consistency_proof_needed(t1: int, t2: int) -> list[int]:
    """Indexes :func:`consistency_proof` reads."""
    return _needed(_consistency_ranges(t1, t2))


def consistency_proof(t1: int, t2: int, read: Mapping[int, bytes]) -> list[bytes]:
    """RFC 6962 proof that tree t2 extends tree t1 (Go's ProveTree); empty if t1 == t2."""
    return [_range_hash(lo, hi, read) for lo, hi in _consistency_ranges(t1, t2)]
