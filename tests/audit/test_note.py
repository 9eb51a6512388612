"""proxy.audit.note and the note half of verify: C2SP signed notes and checkpoints, checked
byte for byte against the vectors in Go's golang.org/x/mod/sumdb/note tests."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.audit.note import (
    Signer,
    format_checkpoint,
    generate_signer_key,
    sign_checkpoint,
    sign_note,
)
from proxy.audit.verify import (
    Checkpoint,
    CheckpointFormatError,
    NoteFormatError,
    SignatureError,
    UnverifiedNoteError,
    Verifier,
    is_valid_key_name,
    key_hash,
    open_signed_note,
    parse_checkpoint,
    verify_checkpoint,
)
from tests.audit.memtree import InMemoryTree

# From golang.org/x/mod/sumdb/note/note_test.go.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"  # noqa: E501
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"  # noqa: E501
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"  # noqa: E501
# From Go's cmd/go proxy tests: a key hash with leading zeros and a '+' inside the base64.
SUMDB_SKEY = (
    "PRIVATE+KEY+localhost.localdev/sumdb+00000c67+AXu6+oaVaOYuQOFrf1V59JK1owcFlJcHwwXHDfDGxSPk"
)
SUMDB_VKEY = "localhost.localdev/sumdb+00000c67+AcTrnkbUA+TU4heY3hkjiSES/DSQniBqIeQ/YppAUtK6"
# The example in c2sp.org/tlog-checkpoint (its key is not published, so it cannot verify).
C2SP_EXAMPLE = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5"
    "/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
)
PETER = Verifier.from_key(PETER_VKEY)
ENOCH = Verifier.from_key(ENOCH_VKEY)


def test_go_signer_key_signs_byte_for_byte_like_go() -> None:
    signer = Signer.from_private_key(PETER_SKEY)
    assert (signer.name, signer.key_hash) == ("PeterNeumann", 0xC74F20A3)
    assert signer.verifier_key == PETER_VKEY
    assert signer.private_key_string() == PETER_SKEY
    assert sign_note(TEXT, signer) == (TEXT + "\n" + PETER_SIG).encode()


def test_key_hash_known_answer_from_the_formula() -> None:
    public_key = base64.b64decode(PETER_VKEY.split("+")[2])[1:]
    by_hand = hashlib.sha256(b"PeterNeumann" + b"\n" + b"\x01" + public_key).digest()[:4]
    assert by_hand == bytes.fromhex("c74f20a3")
    assert key_hash("PeterNeumann", public_key) == int.from_bytes(by_hand, "big") == 0xC74F20A3


def test_key_with_leading_zero_hash_and_plus_in_base64() -> None:
    signer = Signer.from_private_key(SUMDB_SKEY)
    assert signer.key_hash == 0xC67 and signer.verifier_key == SUMDB_VKEY
    assert Verifier.from_key(SUMDB_VKEY) == signer.verifier()


def test_open_go_note_signed_by_two_keys() -> None:
    msg = (TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode()
    note = open_signed_note(msg, [PETER])
    assert note.text == TEXT
    assert [(s.name, s.key_hash) for s in note.signatures] == [("PeterNeumann", 0xC74F20A3)]
    assert [(s.name, s.key_hash) for s in note.unverified] == [("EnochRoot", 0xAF0CFE78)]
    both = open_signed_note(msg, [PETER, ENOCH])
    assert [s.name for s in both.signatures] == ["PeterNeumann", "EnochRoot"]
    assert both.unverified == ()
    with pytest.raises(UnverifiedNoteError) as info:
        open_signed_note(msg, [])
    assert info.value.found == (("PeterNeumann", 0xC74F20A3), ("EnochRoot", 0xAF0CFE78))


def test_invalid_signature_by_trusted_key_fails_the_note() -> None:
    corrupt = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureError) as info:
        open_signed_note(TEXT + "\n" + corrupt, [PETER])
    assert (info.value.key_name, info.value.key_hash) == ("PeterNeumann", 0xC74F20A3)
    # A bad signature by an unknown key is ignored, as Go does.
    assert open_signed_note(TEXT + "\n" + PETER_SIG + corrupt.replace("Peter", "Carmen"), [PETER])


def test_only_the_first_signature_per_key_counts() -> None:
    note = open_signed_note(TEXT + "\n" + PETER_SIG * 2 + ENOCH_SIG, [PETER])
    assert len(note.signatures) == 1
    # As Go's Open: a later signature by an already-verified key is dropped unchecked.
    corrupt = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    assert len(open_signed_note(TEXT + "\n" + PETER_SIG + corrupt, [PETER]).signatures) == 1


def test_text_may_contain_blank_lines() -> None:
    signer = Signer.from_private_key(PETER_SKEY)
    text = "first paragraph\n\nsecond paragraph\n\n"
    note = open_signed_note(sign_note(text, signer), [PETER])
    assert note.text == text  # split at the last blank line, not the first


@pytest.mark.parametrize(
    "msg",
    [
        TEXT,  # no signatures at all
        TEXT + "\n",  # blank line but no signature lines
        TEXT + "\n" + PETER_SIG[:-1],  # signature line without its newline
        "\x01" + TEXT + "\n" + PETER_SIG,  # control character
        TEXT + "\n" + PETER_SIG.replace("—", "-"),  # hyphen-minus instead of EM DASH
        TEXT + "\n" + PETER_SIG.replace("— ", "—"),
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",  # noqa: E501
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + "— PeterNeumann\n",
        TEXT + "\n" + "— PeterNeumann x08g\n",  # shorter than key ID + 1 byte
        TEXT + "\n" + "— PeterNeumann x08go/ZJ!!\n",
        TEXT + "\n" + PETER_SIG * 101,  # too many signatures
    ],
)
def test_malformed_notes_are_rejected(msg: str) -> None:
    with pytest.raises(NoteFormatError):
        open_signed_note(msg, [PETER])


def test_invalid_utf8_is_rejected() -> None:
    with pytest.raises(NoteFormatError, match="UTF-8"):
        open_signed_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode(), [PETER])


def test_round_trip_and_tampering() -> None:
    skey, vkey = generate_signer_key("alpr-proxy.example/log")
    assert skey.startswith("PRIVATE+KEY+alpr-proxy.example/log+")
    signer = Signer.from_private_key(skey)
    assert signer.verifier_key == vkey
    root = InMemoryTree([b"a", b"b", b"c"]).root()
    signed = sign_checkpoint("alpr-proxy.example/log", 3, root, signer)
    cp = verify_checkpoint(signed, vkey, origin="alpr-proxy.example/log")
    assert cp == Checkpoint("alpr-proxy.example/log", 3, root, ())
    with pytest.raises(SignatureError):  # tampered text, same signature
        verify_checkpoint(signed.replace(b"\n3\n", b"\n4\n"), vkey)
    _, other_vkey = generate_signer_key("alpr-proxy.example/log")
    with pytest.raises(UnverifiedNoteError):  # same name, wrong key
        verify_checkpoint(signed, other_vkey)
    renamed = Signer.from_seed("someone.else/log", signer.private_key.private_bytes_raw())
    with pytest.raises(UnverifiedNoteError):  # right key, wrong key name
        verify_checkpoint(signed, renamed.verifier_key)
    with pytest.raises(CheckpointFormatError, match="origin"):
        verify_checkpoint(signed, vkey, origin="another.example/log")


def test_checkpoint_note_exact_bytes() -> None:
    seed = bytes(range(32))
    signer = Signer.from_seed("log.example/audit", seed)
    root = bytes.fromhex("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")
    body = "log.example/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n"
    assert format_checkpoint("log.example/audit", 8, root) == body
    # Independently: key ID from the formula, Ed25519 over the body with the same seed.
    public_key = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    key_id = hashlib.sha256(b"log.example/audit\n\x01" + public_key).digest()[:4]
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(body.encode())
    line = "\u2014 log.example/audit " + base64.b64encode(key_id + sig).decode() + "\n"
    assert sign_checkpoint("log.example/audit", 8, root, signer) == (body + "\n" + line).encode()
    assert sign_note(body, signer) == (body + "\n" + line).encode()


def test_cosigned_note_lists_signatures_in_order() -> None:
    a = Signer.from_seed("a.example", b"\x01" * 32)
    b = Signer.from_seed("b.example", b"\x02" * 32)
    note = sign_note("hello\n", a, b)
    assert note.decode().split("\n")[2].startswith("\u2014 a.example ")
    assert note.decode().split("\n")[3].startswith("\u2014 b.example ")
    assert len(open_signed_note(note, [a.verifier(), b.verifier()]).signatures) == 2


def test_sign_note_rejects_text_go_could_not_open() -> None:
    signer = Signer.from_private_key(PETER_SKEY)
    with pytest.raises(ValueError, match="newline"):
        sign_note("no final newline", signer)
    with pytest.raises(ValueError, match="control"):
        sign_note("tab\there\n", signer)


def test_c2sp_example_checkpoint_parses() -> None:
    body = C2SP_EXAMPLE.split("\n\n")[0] + "\n"
    cp = parse_checkpoint(body)
    assert (cp.origin, cp.size, cp.extensions) == ("example.com/behind-the-sofa", 20852163, ())
    assert cp.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    with pytest.raises(UnverifiedNoteError) as info:
        open_signed_note(C2SP_EXAMPLE, [PETER])
    assert info.value.found[0][0] == "example.com/behind-the-sofa"


ROOT64 = base64.b64encode(b"\x05" * 32).decode()


def test_checkpoint_extensions() -> None:
    cp = parse_checkpoint(f"o\n0\n{ROOT64}\next one\next two\n".encode())
    assert cp == Checkpoint("o", 0, b"\x05" * 32, ("ext one", "ext two"))
    assert format_checkpoint("o", 0, b"\x05" * 32, ["ext one", "ext two"]) == (
        f"o\n0\n{ROOT64}\next one\next two\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        f"o\n1\n{ROOT64}",  # no final newline
        f"o\n1\n{ROOT64}\n\n",  # empty extension line
        f"\n1\n{ROOT64}\n",  # empty origin
        "o\n1\n",  # no root
        f"o\n01\n{ROOT64}\n",  # leading zero
        f"o\n+1\n{ROOT64}\n",
        f"o\n 1\n{ROOT64}\n",
        f"o\n1_0\n{ROOT64}\n",
        f"o\n\u0661\n{ROOT64}\n",  # Arabic-Indic digit one, which int() accepts
        f"o\n-1\n{ROOT64}\n",
        f"o\n9223372036854775808\n{ROOT64}\n",  # 2**63
        f"o\n{'9' * 5000}\n{ROOT64}\n",
        "o\n1\nAAAA\n",  # 3-byte root
        f"o\n1\n{ROOT64[:-1]}\n",  # bad padding
        f"o\n1\n{ROOT64[:-2]}F=\n",  # non-canonical base64 (trailing bits set)
        f"o\r\n1\n{ROOT64}\n",  # control character
    ],
)
def test_bad_checkpoints_are_rejected(text: str) -> None:
    with pytest.raises(CheckpointFormatError):
        parse_checkpoint(text)


def test_checkpoint_size_bounds() -> None:
    assert parse_checkpoint(f"o\n9223372036854775807\n{ROOT64}\n").size == 2**63 - 1


@pytest.mark.parametrize(
    "name", ["", "a b", "a+b", "a\tb", "a\u00a0b", "a\u3000b", "a\u2028b", "a\nb"]
)
def test_bad_key_names(name: str) -> None:
    assert not is_valid_key_name(name)
    with pytest.raises(ValueError, match="key name"):
        generate_signer_key(name)
    with pytest.raises(ValueError, match="key name"):
        Signer.from_seed(name, b"\x00" * 32)


def test_good_key_names() -> None:
    for name in ("a", "example.com/log", "ключ", "a\u200bb"):  # U+200B is not white space
        assert is_valid_key_name(name)


def test_verifier_key_manglings_are_rejected() -> None:
    # As Go's TestNewVerifier: every proper substring and every single-byte change.
    b = PETER_VKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(NoteFormatError):
                    Verifier.from_key(b[i:j].decode())
    for i in range(len(b)):
        mangled = b[:i] + bytes([b[i] + 1]) + b[i + 1 :]
        with pytest.raises(NoteFormatError):
            Verifier.from_key(mangled.decode())
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(NoteFormatError):
            Verifier.from_key(bad)


def test_signer_key_manglings_are_rejected() -> None:
    b = PETER_SKEY.encode()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                with pytest.raises(ValueError):
                    Signer.from_private_key(b[i:j].decode())
    for i in range(len(b)):
        with pytest.raises(ValueError):
            Signer.from_private_key((b[:i] + bytes([b[i] + 1]) + b[i + 1 :]).decode())


def test_signer_never_prints_its_private_key() -> None:
    signer = Signer.from_private_key(PETER_SKEY)
    assert "AYEKFALV" not in repr(signer) and "PeterNeumann" in repr(signer)
    with pytest.raises(ValueError) as info:
        Signer.from_private_key(PETER_SKEY.replace("c74f20a3", "c74f20a4"))
    assert "AYEKFALV" not in str(info.value)


def test_ambiguous_verifiers_are_refused() -> None:
    with pytest.raises(ValueError, match="ambiguous"):
        open_signed_note(TEXT + "\n" + PETER_SIG, [PETER, PETER])


@pytest.mark.parametrize(
    ("origin", "size", "root", "extensions"),
    [
        ("", 1, b"\x00" * 32, ()),
        ("a\nb", 1, b"\x00" * 32, ()),
        ("o", -1, b"\x00" * 32, ()),
        ("o", 2**63, b"\x00" * 32, ()),
        ("o", True, b"\x00" * 32, ()),
        ("o", 1, b"\x00" * 31, ()),
        ("o", 1, b"\x00" * 32, ("",)),
        ("o", 1, b"\x00" * 32, ("x\ny",)),
    ],
)
def test_format_checkpoint_validates(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        format_checkpoint(origin, size, root, extensions)
