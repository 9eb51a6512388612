"""tlog-cosignature v1, pure: the spec's example, the exact signed bytes, round trips with the
independent implementation, and errors that carry their evidence."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.audit.note import generate_signer_key
from proxy.witness import cosignature
from proxy.witness.cosignature import (
    CosignatureFormatError,
    CosignatureMissingError,
    CosignatureSignatureError,
    CosignatureTimeError,
    CosignatureVerifier,
    key_id,
    parse_line,
    signed_message,
)
from proxy.witness.signer import WitnessKeyError, WitnessSigner
from tests.policy.test_purity import violations
from tests.witness import c2sp_ref as ref

BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
# The example cosignature in c2sp.org/tlog-cosignature (its key is not published).
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlr"
    "DJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def ref_cosign(private: Ed25519PrivateKey, name: str, body: str, ts: int) -> str:
    """A cosignature line built by hand from the spec text."""
    public = private.public_key().public_bytes_raw()
    message = f"cosignature/v1\ntime {ts}\n{body}".encode()
    raw = ref.key_id(name, 0x04, public) + struct.pack(">Q", ts) + private.sign(message)
    return f"\u2014 {name} {base64.b64encode(raw).decode()}\n"


def test_spec_example_line_parses_with_the_spec_example_time():
    sig = parse_line(SPEC_LINE)
    assert (sig.name, sig.key_id, sig.timestamp) == (
        "witness.example.com/w1",
        0x8D66CF3F,
        1679315147,
    )
    assert sig.line() == SPEC_LINE  # re-encodes byte for byte


def test_signed_message_is_exactly_the_spec_bytes():
    assert signed_message(BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )


def test_key_id_and_vkey_follow_the_spec_formula():
    signer = WitnessSigner.from_seed("witness.example/w", b"\x42" * 32)
    public = signer.public_key
    assert key_id("witness.example/w", public).to_bytes(4, "big") == ref.key_id(
        "witness.example/w", 0x04, public
    )
    assert signer.vkey == ref.vkey("witness.example/w", 0x04, public)
    assert CosignatureVerifier.from_vkey(signer.vkey) == signer.verifier()


def test_our_cosignatures_verify_independently_and_theirs_verify_here():
    signer = WitnessSigner.generate("witness.example/w")
    line = signer.cosign(BODY, 1_700_000_000).line()
    assert ref.verify_cosignature(BODY, line, signer.vkey) == 1_700_000_000
    private = Ed25519PrivateKey.generate()
    theirs = ref_cosign(private, "w.example/x", BODY, 1234)
    vkey = ref.vkey("w.example/x", 0x04, private.public_key().public_bytes_raw())
    assert CosignatureVerifier.from_vkey(vkey).verify(BODY, [theirs]).timestamp == 1234


def test_errors_carry_evidence():
    signer = WitnessSigner.generate("witness.example/w")
    other = WitnessSigner.generate("witness.example/w")  # same name, another key
    verifier = signer.verifier()
    line = signer.cosign(BODY, 100).line()
    with pytest.raises(CosignatureSignatureError) as bad:
        verifier.verify(BODY.replace("20852163", "20852164"), [line])
    assert (bad.value.name, bad.value.key_id, bad.value.timestamp) == (
        signer.name,
        signer.key_id,
        100,
    )
    log_line = "\u2014 example.com/behind-the-sofa " + base64.b64encode(b"\x01" * 68).decode()
    with pytest.raises(CosignatureMissingError) as missing:
        verifier.verify(BODY, [log_line, other.cosign(BODY, 1).line()])
    assert missing.value.found == (
        ("example.com/behind-the-sofa", 0x01010101),
        (other.name, other.key_id),
    )
    with pytest.raises(CosignatureTimeError) as future:
        verifier.verify(BODY, [line], now=99)
    assert (future.value.timestamp, future.value.now) == (100, 99)
    with pytest.raises(CosignatureTimeError):
        verifier.verify(BODY, [line], now=200, max_age_s=99)
    assert verifier.verify(BODY, [line], now=200, max_age_s=100).timestamp == 100


def test_first_line_of_the_key_counts_as_in_go():
    signer = WitnessSigner.generate("witness.example/w")
    good, bad = signer.cosign(BODY, 5).line(), signer.cosign(BODY + "x\n", 6).line()
    assert signer.verifier().verify(BODY, [good, bad]).timestamp == 5
    with pytest.raises(CosignatureSignatureError):
        signer.verifier().verify(BODY, [bad, good])


@pytest.mark.parametrize(
    "line",
    [
        "- witness.example/w AAAA\n",
        "\u2014 witness.example/w\n",
        "\u2014 witness.example/w !!!!\n",
        "\u2014 witness example/w " + base64.b64encode(b"\x00" * 76).decode(),
        "\u2014 witness.example/w " + base64.b64encode(b"\x00" * 75).decode(),
        "\u2014 witness.example/w "
        + base64.b64encode(b"\x00" * 4 + b"\x80" + b"\x00" * 71).decode(),
    ],
)
def test_malformed_lines(line: str):
    with pytest.raises(CosignatureFormatError):
        parse_line(line)


def test_vkey_manglings():
    signer = WitnessSigner.generate("witness.example/w")
    _, log_vkey = generate_signer_key("example.org/log")
    name, kid, b64 = signer.vkey.split("+", 2)
    for bad in (
        log_vkey,  # type 0x01: a log key is not a witness key
        f"{name}+{int(kid, 16) ^ 1:08x}+{b64}",
        f"other.example/w+{kid}+{b64}",
        f"{name}+{kid}+{base64.b64encode(base64.b64decode(b64)[:-1]).decode()}",
        f"{name}+{kid[:7]}+{b64}",
    ):
        with pytest.raises(CosignatureFormatError):
            CosignatureVerifier.from_vkey(bad)


def test_key_file_round_trip_and_refusals():
    signer = WitnessSigner.generate("witness.example/w")
    text = signer.private_key_string()
    assert text.startswith("PRIVATE+KEY+witness.example/w+")
    assert WitnessSigner.from_private_key(text + "\n").vkey == signer.vkey
    assert text.split("+")[-1] not in repr(signer)
    log_private, _ = generate_signer_key("example.org/log")
    with pytest.raises(WitnessKeyError, match="log-signing key"):
        WitnessSigner.from_private_key(log_private)
    parts = text.split("+", 4)
    parts[3] = f"{int(parts[3], 16) ^ 1:08x}"
    with pytest.raises(WitnessKeyError, match="does not match"):
        WitnessSigner.from_private_key("+".join(parts))
    with pytest.raises(WitnessKeyError):
        WitnessSigner.generate("bad name")


def test_bodies_that_are_not_checkpoint_bodies_are_refused():
    signer = WitnessSigner.generate("witness.example/w")
    for body in ("no newline", BODY + "\n", "a\x01b\n", "\n" + BODY):
        with pytest.raises(CosignatureFormatError):
            signer.cosign(body, 1)
    with pytest.raises(CosignatureFormatError):
        signer.cosign(BODY, 2**63)


@pytest.mark.parametrize("module", ["cosignature", "request", "signer"])
def test_format_modules_stay_pure(module: str):
    """No I/O, no clock: the format can be reused by the proxy and verifiers as is."""
    source = (Path(cosignature.__file__).parent / f"{module}.py").read_text(encoding="utf-8")
    assert violations(source) == []
