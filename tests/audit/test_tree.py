"""proxy.audit.tree: Go-tlog layout, RFC 6962 known answers, read plans, batch appends."""

from __future__ import annotations

import ast
import hashlib
import math
import random
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from proxy.audit import tree
from proxy.audit.tree import (
    EMPTY_ROOT,
    append_batch,
    append_batch_needed,
    consistency_proof,
    consistency_proof_needed,
    inclusion_proof,
    inclusion_proof_needed,
    leaf_hash,
    node_hash,
    split_stored_hash_index,
    stored_hash_count,
    stored_hash_index,
    stored_hashes,
    stored_hashes_needed,
    tree_hash,
    tree_hash_needed,
)
from proxy.audit.verify import verify_consistency, verify_inclusion
from tests.audit.memtree import InMemoryTree

# RFC 6962 reference tree (also transparency-dev/merkle's verify_test.go).
RFC_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]  # fmt: skip
RFC_ROOTS = [bytes.fromhex(h) for h in (  # roots of the first 1..8 leaves
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]  # fmt: skip
H = {  # proof hashes from the same source
    "96a2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f08": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca85": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37e": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac5": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e34": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b086": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}
MAX_N = 64


class RecordingReader(Mapping[int, bytes]):
    """Serves only the listed indexes and records every read."""

    def __init__(self, store: Mapping[int, bytes], allowed: list[int]) -> None:
        self.store, self.allowed, self.reads = store, set(allowed), list[int]()

    def __getitem__(self, index: int) -> bytes:
        if index not in self.allowed:
            raise AssertionError(f"read of index {index}, which the plan did not list")
        self.reads.append(index)
        return self.store[index]

    def __len__(self) -> int:
        return len(self.allowed)

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.allowed))


def reads_exactly(store: Mapping[int, bytes], needed: list[int]) -> RecordingReader:
    return RecordingReader(store, needed)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def rfc_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n])."""
    if len(leaves) <= 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*rfc_path(m, leaves[:k]), mth(leaves[k:])]
    return [*rfc_path(m - k, leaves[k:]), mth(leaves[:k])]


def rfc_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    """RFC 6962 §2.1.2 SUBPROOF(m, D[n], b)."""
    if m == len(leaves):
        return [] if whole else [mth(leaves)]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m <= k:
        return [*rfc_subproof(m, leaves[:k], whole), mth(leaves[k:])]
    return [*rfc_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def data(i: int) -> bytes:
    return f"entry {i}".encode()


DATA = [data(i) for i in range(MAX_N)]
FULL = InMemoryTree(DATA)


def test_rfc6962_reference_root_via_in_memory_tree() -> None:
    t = InMemoryTree(RFC_LEAVES)
    assert t.root() == RFC_ROOTS[-1]
    assert t.root().hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert [t.root(n) for n in range(1, 9)] == RFC_ROOTS


def test_rfc6962_reference_root_via_stored_hashes_one_by_one() -> None:
    store: dict[int, bytes] = {}
    for n, leaf in enumerate(RFC_LEAVES):
        new = stored_hashes(n, leaf, store)
        assert len(new) == stored_hash_count(n + 1) - stored_hash_count(n)
        store.update(zip(range(stored_hash_count(n), stored_hash_count(n + 1)), new, strict=True))
        assert tree_hash(n + 1, store) == RFC_ROOTS[n]
    assert tree_hash(8, store) == RFC_ROOTS[-1]


@pytest.mark.parametrize(
    ("index", "size", "proof"),
    [(0, 8, ["96a2", "5f08", "6b47"]), (5, 8, ["bc1a", "ca85", "d37e"]),
     (2, 3, ["fac5"]), (1, 5, ["6e34", "5f08", "bc1a"]), (0, 1, [])],
)  # fmt: skip
def test_inclusion_proof_known_answers(index: int, size: int, proof: list[str]) -> None:
    got = InMemoryTree(RFC_LEAVES).inclusion_proof(index, size)
    assert got == [bytes.fromhex(H[p]) for p in proof]


@pytest.mark.parametrize(
    ("old", "size", "proof"),
    [(1, 8, ["96a2", "5f08", "6b47"]), (6, 8, ["0ebc", "ca85", "d37e"]),
     (2, 5, ["5f08", "bc1a"]), (6, 7, ["0ebc", "b086", "d37e"]), (1, 1, []), (8, 8, [])],
)  # fmt: skip
def test_consistency_proof_known_answers(old: int, size: int, proof: list[str]) -> None:
    got = InMemoryTree(RFC_LEAVES).consistency_proof(old, size)
    assert got == [bytes.fromhex(H[p]) for p in proof]


def test_hashes() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert tree_hash(0, {}) == EMPTY_ROOT and tree_hash_needed(0) == []


def test_stored_hash_layout_matches_go_tlog() -> None:
    # Storage order for 8 records: leaf 0, leaf 1, (1,0), leaf 2, leaf 3, (1,1), (2,0), leaf 4..
    layout = [(0, 0), (0, 1), (1, 0), (0, 2), (0, 3), (1, 1), (2, 0), (0, 4), (0, 5), (1, 2),
              (0, 6), (0, 7), (1, 3), (2, 1), (3, 0)]  # fmt: skip
    assert [stored_hash_index(lv, n) for lv, n in layout] == list(range(15))
    assert [split_stored_hash_index(i) for i in range(15)] == layout
    assert [stored_hash_count(n) for n in range(9)] == [0, 1, 3, 4, 7, 8, 10, 11, 15]


def test_split_is_inverse_of_index() -> None:
    for i in range(5000):
        assert stored_hash_index(*split_stored_hash_index(i)) == i
    for level in range(40):
        for n in (0, 1, 2, 3, 1000, 2**20 + 7):
            assert split_stored_hash_index(stored_hash_index(level, n)) == (level, n)


def test_in_memory_tree_stores_exactly_the_go_layout() -> None:
    for n in range(MAX_N + 1):
        t = InMemoryTree(DATA[:n])
        assert sorted(t.hashes) == list(range(stored_hash_count(n)))
        for i, h in t.hashes.items():
            level, k = split_stored_hash_index(i)
            assert h == mth(DATA[k << level : (k + 1) << level])


@pytest.mark.parametrize("n", range(MAX_N + 1))
def test_tree_hash_reads_exactly_its_plan(n: int) -> None:
    needed = tree_hash_needed(n)
    reader = reads_exactly(FULL.hashes, needed)
    assert tree_hash(n, reader) == mth(DATA[:n])
    assert sorted(reader.reads) == needed
    assert len(needed) <= max(1, n.bit_length())


@pytest.mark.parametrize("n", range(MAX_N))
def test_stored_hashes_reads_exactly_its_plan(n: int) -> None:
    needed = stored_hashes_needed(n)
    assert all(i < stored_hash_count(n) for i in needed)
    reader = reads_exactly(InMemoryTree(DATA[:n]).hashes, needed)
    new = stored_hashes(n, DATA[n], reader)
    assert sorted(reader.reads) == needed
    count = stored_hash_count(n)
    assert dict(zip(range(count, count + len(new)), new, strict=True)) == {
        i: FULL.hashes[i] for i in range(count, stored_hash_count(n + 1))
    }


@pytest.mark.parametrize("t", range(1, MAX_N + 1))
def test_inclusion_proofs_match_rfc_and_verify(t: int) -> None:
    root = mth(DATA[:t])
    for n in range(t):
        needed = inclusion_proof_needed(t, n)
        reader = reads_exactly(FULL.hashes, needed)
        proof = inclusion_proof(t, n, reader)
        assert sorted(reader.reads) == needed
        assert len(needed) <= 2 * t.bit_length()
        assert proof == rfc_path(n, DATA[:t])
        verify_inclusion(leaf_hash(DATA[n]), n, t, proof, root)


@pytest.mark.parametrize("t2", range(1, MAX_N + 1))
def test_consistency_proofs_match_rfc_and_verify(t2: int) -> None:
    root2 = mth(DATA[:t2])
    for t1 in range(1, t2 + 1):
        needed = consistency_proof_needed(t1, t2)
        reader = reads_exactly(FULL.hashes, needed)
        proof = consistency_proof(t1, t2, reader)
        assert sorted(reader.reads) == needed
        assert len(needed) <= 2 * t2.bit_length()
        assert proof == rfc_subproof(t1, DATA[:t2], True)
        verify_consistency(t1, t2, mth(DATA[:t1]), root2, proof)


@pytest.mark.parametrize("size", [10**6, 2**40 - 1, 2**40, 2**40 + 1, 123456789012345, 2**62 + 3])
def test_plans_stay_logarithmic_for_large_trees(size: int) -> None:
    bound = 2 * math.ceil(math.log2(size + 1))
    rng = random.Random(size)
    assert len(tree_hash_needed(size)) <= bound
    assert len(stored_hashes_needed(size)) <= bound
    assert len(append_batch_needed(size, 1000)) <= size.bit_length()
    for _ in range(50):
        n, t1 = rng.randrange(size), rng.randrange(1, size + 1)
        assert len(inclusion_proof_needed(size, n)) <= bound
        assert len(consistency_proof_needed(t1, size)) <= bound


def random_splits(rng: random.Random, total: int) -> Iterator[tuple[int, int]]:
    start = 0
    while start < total:
        k = rng.randint(1, min(9, total - start))
        yield start, k
        start += k


@pytest.mark.parametrize("seed", range(40))
def test_append_batch_equals_one_by_one_appends(seed: int) -> None:
    rng = random.Random(seed)
    store: dict[int, bytes] = {}
    for start, k in random_splits(rng, MAX_N):
        needed = append_batch_needed(start, k)
        assert all(i < stored_hash_count(start) for i in needed)
        assert len(needed) <= max(1, start.bit_length())
        reader = reads_exactly(store, needed)
        new = append_batch(start, DATA[start : start + k], reader)
        assert sorted(reader.reads) == needed  # each pre-existing hash read once
        assert sorted(new) == list(range(stored_hash_count(start), stored_hash_count(start + k)))
        store.update(new)
    assert store == dict(FULL.hashes)


@pytest.mark.parametrize("seed", range(20))
def test_append_to_edge_groups_append_batch_by_record(seed: int) -> None:
    """What the writer stores per entry: the hashes append_batch writes for it, in stored-hash
    order, computed from the right edge alone; and the edge it leaves is the stored one."""
    rng = random.Random(seed)
    edge: list[bytes] = []
    for start, k in random_splits(rng, MAX_N):
        assert edge == [FULL.hashes[i] for i in tree_hash_needed(start)]
        blobs, edge = tree.append_to_edge(start, DATA[start : start + k], edge)
        assert len(blobs) == k
        for n, blob in enumerate(blobs, start):
            first, end = stored_hash_index(0, n), stored_hash_count(n + 1)
            assert blob == b"".join(FULL.hashes[i] for i in range(first, end))
    assert edge == [FULL.hashes[i] for i in tree_hash_needed(MAX_N)]


def test_append_to_edge_needs_the_whole_edge() -> None:
    with pytest.raises(ValueError, match="has 2 edge hashes"):
        tree.append_to_edge(5, DATA[5:6], [FULL.hashes[tree_hash_needed(5)[0]]])
    assert tree.append_to_edge(5, [], [FULL.hashes[i] for i in tree_hash_needed(5)])[0] == []


def test_append_batch_of_nothing_and_in_memory_append() -> None:
    assert append_batch(5, [], {}) == {} and append_batch_needed(5, 0) == []
    t = InMemoryTree()
    assert [t.append(d) for d in DATA[:5]] == [0, 1, 2, 3, 4]
    assert t.size == 5 and t.root() == mth(DATA[:5])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: inclusion_proof_needed(5, 5), "not in a tree of 5"),
        (lambda: inclusion_proof_needed(0, 0), "not in a tree of 0"),
        (lambda: inclusion_proof(3, 7, FULL.hashes), "not in a tree of 3"),
        (lambda: consistency_proof_needed(6, 5), "larger than new size"),
        (lambda: consistency_proof(0, 5, FULL.hashes), "empty tree"),
        (lambda: tree_hash_needed(-1), "non-negative"),
        (lambda: stored_hash_index(0, True), "non-negative int"),
        (lambda: stored_hashes_needed(-3), "non-negative"),
        (lambda: append_batch_needed(2, -1), "non-negative"),
        (lambda: FULL.root(MAX_N + 1), "exceeds"),
        (lambda: FULL.inclusion_proof(0, MAX_N + 1), "exceeds"),
    ],
)
def test_bad_arguments_raise_value_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_missing_or_corrupt_stored_hash_is_loud() -> None:
    with pytest.raises(KeyError):
        tree_hash(3, {})
    bad = dict(FULL.hashes)
    bad[tree_hash_needed(3)[0]] = b"short"
    with pytest.raises(ValueError, match="has 5 bytes"):
        tree_hash(3, bad)


def test_tree_module_is_pure() -> None:
    module = ast.parse(Path(tree.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(module) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(module) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "hashlib", "typing", "dataclasses", "collections.abc"}
