"""proxy.audit.verify: every transparency-dev/merkle vector, evidence in errors, standalone use."""

from __future__ import annotations

import ast
import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from proxy.audit import verify
from proxy.audit.tree import leaf_hash
from proxy.audit.verify import (
    ConsistencyProof,
    ConsistencyProofError,
    InclusionProof,
    InclusionProofError,
    ProofFormatError,
    VerificationError,
    hash_leaf,
    parse_consistency_proof,
    parse_inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from tests.audit.memtree import InMemoryTree

VECTORS = Path("/work/shared/testdata/rfc6962")
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))


def b64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)


def load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return case


def vector_id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def test_all_vectors_are_found() -> None:
    # Guards the parametrised tests below against silently running over nothing.
    assert len(INCLUSION) + len(CONSISTENCY) == 196  # every *.json under the folder
    assert len([p for p in INCLUSION + CONSISTENCY if p.name == "happy-path.json"]) == 10


@pytest.mark.parametrize("path", INCLUSION, ids=vector_id)
def test_inclusion_vector(path: Path) -> None:
    case = load(path)
    args = (b64(case["leafHash"]), case["leafIdx"], case["treeSize"])
    proof, root = [b64(h) for h in case["proof"] or []], b64(case["root"])  # null = []
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_inclusion(*args, proof, root)
    else:
        verify_inclusion(*args, proof, root)


@pytest.mark.parametrize("path", CONSISTENCY, ids=vector_id)
def test_consistency_vector(path: Path) -> None:
    case = load(path)
    args = (case["size1"], case["size2"], b64(case["root1"]), b64(case["root2"]))
    proof = [b64(h) for h in case["proof"] or []]
    if case["wantErr"]:
        with pytest.raises(VerificationError):
            verify_consistency(*args, proof)
    else:
        verify_consistency(*args, proof)


def test_happy_paths_are_the_only_accepted_vectors_besides_equal_sizes() -> None:
    accepted = [p for p in INCLUSION + CONSISTENCY if not load(p)["wantErr"]]
    names = {p.name for p in accepted}
    assert names == {
        "happy-path.json",
        "matching-root-and-leaf.json",
        "sizes-are-equal-one-and-proof-is-empty.json",
    }


TREE = InMemoryTree([f"entry {i}".encode() for i in range(13)])
LEAF5 = leaf_hash(b"entry 5")


def test_inclusion_error_carries_evidence() -> None:
    proof = TREE.inclusion_proof(5)
    wrong_root = b"\x07" * 32
    with pytest.raises(InclusionProofError) as info:
        verify_inclusion(LEAF5, 5, 13, proof, wrong_root)
    e = info.value
    assert (e.index, e.size, e.expected_root, e.computed_root) == (5, 13, wrong_root, TREE.root())
    with pytest.raises(InclusionProofError) as info:
        verify_inclusion(leaf_hash(b"entry 6"), 5, 13, proof, TREE.root())
    assert info.value.computed_root != TREE.root()


def test_consistency_error_carries_evidence() -> None:
    proof = TREE.consistency_proof(5)
    old, new = TREE.root(5), TREE.root()
    with pytest.raises(ConsistencyProofError) as info:
        verify_consistency(5, 13, old, b"\x01" * 32, proof)
    e = info.value
    assert (e.old_size, e.size, e.old_root, e.computed_old_root) == (5, 13, old, old)
    assert (e.root, e.computed_root) == (b"\x01" * 32, new)
    assert "new root mismatch" in str(e)
    with pytest.raises(ConsistencyProofError, match="old root mismatch") as info:
        verify_consistency(5, 13, TREE.root(6), new, proof)
    assert info.value.computed_old_root == old
    with pytest.raises(ConsistencyProofError):  # equal sizes, different roots
        verify_consistency(13, 13, old, new, [])


def test_power_of_two_old_size_uses_old_root_as_seed() -> None:
    proof = TREE.consistency_proof(4)
    verify_consistency(4, 13, TREE.root(4), TREE.root(), proof)
    with pytest.raises(ConsistencyProofError) as info:
        verify_consistency(4, 13, TREE.root(3), TREE.root(), proof)
    assert info.value.computed_old_root == TREE.root(3)  # the seed itself
    assert info.value.computed_root != TREE.root()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: verify_inclusion(LEAF5, 5, 13, p[:-1], TREE.root()), "has 3 hashes, want 4"),
        (lambda p: verify_inclusion(LEAF5, 5, 13, [*p, p[0]], TREE.root()), "has 5 hashes"),
        (lambda p: verify_inclusion(LEAF5, 5, 13, [*p[:-1], b"x"], TREE.root()), "32 bytes"),
        (lambda p: verify_inclusion(LEAF5[:31], 5, 13, p, TREE.root()), "leaf hash"),
        (lambda p: verify_inclusion(LEAF5, 13, 13, p, TREE.root()), "not below"),
        (lambda p: verify_inclusion(LEAF5, -1, 13, p, TREE.root()), "index must be"),
        (lambda p: verify_inclusion(LEAF5, True, 13, p, TREE.root()), "index must be"),
        (lambda p: verify_inclusion(LEAF5, 5, 2**63, p, TREE.root()), "size must be"),
        (lambda p: verify_consistency(0, 13, TREE.root(), TREE.root(), []), "0 < old size"),
        (lambda p: verify_consistency(14, 13, TREE.root(), TREE.root(), []), "0 < old size"),
        (lambda p: verify_consistency(5, 5, TREE.root(5), TREE.root(5), p[:1]), "want 0"),
        (
            lambda p: verify_consistency(5, 13, TREE.root(5), TREE.root(), []),
            "has 0 hashes, want 5",
        ),
    ],
)
def test_format_errors(call: Any, message: str) -> None:
    with pytest.raises(ProofFormatError, match=message):
        call(TREE.inclusion_proof(5))


def test_parse_served_proofs() -> None:
    hashes = [base64.b64encode(h).decode() for h in TREE.inclusion_proof(5)]
    served = json.dumps({"index": 5, "size": 13, "hashes": hashes})
    parsed = parse_inclusion_proof(served)
    assert parsed == InclusionProof(5, 13, tuple(TREE.inclusion_proof(5)))
    verify_inclusion(LEAF5, parsed.index, parsed.size, parsed.hashes, TREE.root())
    c = parse_consistency_proof({"old": 5, "size": 13, "hashes": []})
    assert c == ConsistencyProof(5, 13, ())
    with pytest.raises(AttributeError):
        c.old = 6  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("served", "message"),
    [
        (b"\xff", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"index": 1, "size": 2}', "hashes"),
        ('{"index": 1, "size": 2, "hashes": "AAAA"}', "hashes"),
        ('{"index": 1, "size": 2, "hashes": ["not base64!"]}', "bad base64"),
        ('{"index": 1, "size": 2, "hashes": ["AAAA"]}', "3 bytes, want 32"),
        ('{"index": 1, "size": 2, "hashes": [7]}', "base64 string"),
        ('{"index": "1", "size": 2, "hashes": []}', "index must be"),
        ('{"index": 1.0, "size": 2, "hashes": []}', "index must be"),
        ('{"index": -1, "size": 2, "hashes": []}', "index must be"),
        ('{"index": 1, "size": 9223372036854775808, "hashes": []}', "size must be"),
        ('{"index": true, "size": 2, "hashes": []}', "index must be"),
        ('{"size": 2, "hashes": []}', "index must be"),
    ],
)
def test_parse_rejects_malformed_proofs(served: str | bytes, message: str) -> None:
    with pytest.raises(ProofFormatError, match=message):
        parse_inclusion_proof(served)


def test_hash_leaf_matches_tree() -> None:
    assert hash_leaf(b"entry 5") == LEAF5


def test_verify_module_imports_only_stdlib_and_cryptography() -> None:
    module = ast.parse(Path(verify.__file__).read_text(encoding="utf-8"))
    roots = {
        a.name.split(".")[0] for n in ast.walk(module) if isinstance(n, ast.Import) for a in n.names
    }
    roots |= {
        (n.module or "").split(".")[0] for n in ast.walk(module) if isinstance(n, ast.ImportFrom)
    }
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}


def test_verify_module_works_when_copied_alone(tmp_path: Path) -> None:
    shutil.copy(verify.__file__, tmp_path / "standalone_verify.py")
    proof = [base64.b64encode(h).decode() for h in TREE.consistency_proof(5)]
    args = [base64.b64encode(x).decode() for x in (TREE.root(5), TREE.root())]
    code = (
        "import base64, sys, standalone_verify as v\n"
        "d = lambda s: base64.b64decode(s)\n"
        "old, new, *proof = sys.argv[1:]\n"
        "v.verify_consistency(5, 13, d(old), d(new), [d(p) for p in proof])\n"
        "try:\n"
        "    v.verify_consistency(5, 13, d(new), d(new), [d(p) for p in proof])\n"
        "except v.ConsistencyProofError:\n"
        "    print('rejected')\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n" + code,
         *args, *proof],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.stdout == "rejected\n"
