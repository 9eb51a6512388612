"""A whole tree in memory, through the same pure functions as storage (tests only): a dict
keyed by stored-hash index, i.e. a dense list that is also a Mapping."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from proxy.audit.tree import append_batch, consistency_proof, inclusion_proof, tree_hash


class InMemoryTree:
    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self._hashes: dict[int, bytes] = {}
        self._size = 0
        self.extend(leaves)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> Mapping[int, bytes]:
        """Stored hashes by stored-hash index (do not mutate)."""
        return self._hashes

    def append(self, data: bytes) -> int:
        """Append one entry; returns its index."""
        self.extend([data])
        return self._size - 1

    def extend(self, leaves: Sequence[bytes]) -> None:
        self._hashes.update(append_batch(self._size, leaves, self._hashes))
        self._size += len(leaves)

    def _at(self, size: int | None) -> int:
        if size is None:
            return self._size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"size must be a non-negative int, got {size!r}")
        if size > self._size:
            raise ValueError(f"size {size} exceeds the tree's {self._size} records")
        return size

    def root(self, size: int | None = None) -> bytes:
        return tree_hash(self._at(size), self._hashes)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self._at(size), index, self._hashes)

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[bytes]:
        return consistency_proof(old_size, self._at(size), self._hashes)
