"""What `audit verify` finds wrong with a log in PostgreSQL: one error class per finding, each a
dataclass whose fields are the evidence (proxy.audit.offline raises them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import dataclass_transform


@dataclass_transform(eq_default=False)
class LogVerificationError(Exception):
    """The log does not verify. Subclasses are dataclasses whose fields (``vars(error)``) are the
    evidence; the first line of a subclass's docstring is its message, formatted with them."""

    def __init_subclass__(cls) -> None:
        dataclass(eq=False)(cls)  # eq=False: exceptions compare and hash by identity

    def __str__(self) -> str:
        return (self.__doc__ or "").split("\n")[0].format(self=self, **vars(self))

    @property
    def checkpoint(self) -> str:  # which checkpoint failed, for messages
        size, external = getattr(self, "checkpoint_size", None), getattr(self, "external", False)
        name = "external checkpoint" if external else "checkpoint"
        return name if size is None else f"{name} {size}"


class EntryGapError(LogVerificationError):
    """entry {expected_index} is missing: index {found_index} is in its place"""

    expected_index: int
    found_index: int


class LeafMismatchError(LogVerificationError):
    """entry {index}: its body does not match its stored leaf hash (the entry was altered)"""

    index: int
    stored_hash: bytes | None  # None: the row is missing (or duplicated)
    computed_hash: bytes


class StoredHashMismatch(LogVerificationError):
    """stored tree hash {stored_index} (served in proofs) does not match the entries below it"""

    stored_index: int  # tree.split_stored_hash_index says which entries it covers
    stored_hash: bytes | None
    computed_hash: bytes


class ExtraStoredHashesError(LogVerificationError):
    """entry {index} carries {length} bytes of stored hashes, {expected} expected"""

    index: int
    length: int
    expected: int  # 32 per stored hash appending the entry completed


class StoredTreeMismatch(LogVerificationError):
    """size {size}: the root over stored hashes differs from the entries' root"""

    size: int
    stored_root: bytes
    computed_root: bytes


class CheckpointSignatureError(LogVerificationError):
    """{self.checkpoint} does not verify: {reason}"""

    checkpoint_size: int | None  # None: an external checkpoint
    reason: str  # bad signature, unknown key, malformed note or wrong origin
    external: bool = False


class CheckpointTableMismatch(LogVerificationError):
    """checkpoint {checkpoint_size}: the row's size/root columns disagree with its signed note"""

    checkpoint_size: int
    row_root: object
    note_size: int
    note_root: bytes


class CheckpointRootMismatch(LogVerificationError):
    """checkpoint {checkpoint_size}: the signed root differs from the entries' root"""

    checkpoint_size: int
    signed_root: bytes
    computed_root: bytes


class ExternalCheckpointMismatch(CheckpointRootMismatch):
    """external checkpoint {checkpoint_size}: the log's root differs (rebuilt or rewritten)"""


class LogTruncatedError(LogVerificationError):
    """{self.checkpoint} covers more than the log's {log_size} entries"""

    log_size: int
    checkpoint_size: int
    external: bool = False


class ExternalConsistencyError(LogVerificationError):
    """external checkpoint {checkpoint_size}: the consistency proof to size {size} fails"""

    checkpoint_size: int
    size: int
