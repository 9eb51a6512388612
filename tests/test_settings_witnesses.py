"""Settings of SPEC §10: `[log] witness_quorum`, `max_unwitnessed_s`, `[[log.witnesses]]`."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxy.settings import Settings, SettingsError, load_settings
from proxy.witness.signer import WitnessSigner

A = WitnessSigner.generate("oversight.example.gov/witness")
B = WitnessSigner.generate("board.example.org/witness")


def witness(signer: WitnessSigner, name: str | None = None, port: int = 9300) -> str:
    return (
        f'[[log.witnesses]]\nname = "{name or signer.name}"\n'
        f'url = "http://127.0.0.1:{port}"\nkey = "{signer.vkey}"\n'
    )


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Settings:
    p = tmp_path / "alpr-proxy.toml"
    p.write_text(text)
    return load_settings(p, env=env or {})


def test_defaults_mean_no_witnesses(tmp_path: Path):
    s = load_settings(env={})
    assert (s.log.witness_quorum, s.log.max_unwitnessed_s, s.log.witnesses) == (0, 60, [])


def test_two_witnesses_quorum_two_and_env_overrides(tmp_path: Path):
    text = "[log]\nwitness_quorum = 1\n" + witness(A) + witness(B, port=9301)
    s = load(
        tmp_path,
        text,
        {"ALPR_PROXY_LOG_WITNESS_QUORUM": "2", "ALPR_PROXY_LOG_MAX_UNWITNESSED_S": "30"},
    )
    assert s.log.witness_quorum == 2 and s.log.max_unwitnessed_s == 30
    assert [(w.name, w.url, w.key) for w in s.log.witnesses] == [
        (A.name, "http://127.0.0.1:9300", A.vkey),
        (B.name, "http://127.0.0.1:9301", B.vkey),
    ]


def test_the_witness_array_has_no_env_override(tmp_path: Path):
    s = load(tmp_path, "", {"ALPR_PROXY_LOG_WITNESSES": "oops"})
    assert s.log.witnesses == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[log]\nwitness_quorum = -1\n", "witness_quorum must be >= 0"),
        ("[log]\nwitness_quorum = 1\nmax_unwitnessed_s = 0\n" + witness(A), "must be > 0"),
        ("[log]\nwitness_quorum = 1\n", "exceeds the 0 distinct"),
        ("[log]\nwitness_quorum = 2\n" + witness(A), "exceeds the 1 distinct"),
        # one key under two names is one witness
        ("[log]\nwitness_quorum = 2\n" + witness(A) + witness(A, port=1), "twice"),
        ("[log]\nwitness_quorum = 1\n" + witness(A, name="other.example/w"), "is named"),
        ("[log]\nwitness_quorum = 1\n" + witness(A).replace("http://", "ftp://"), "http"),
        ("[log]\nwitness_quorum = 1\n" + witness(A).replace(A.vkey, "nonsense"), "nonsense"),
        ("[[log.witnesses]]\nname = 'x'\n", "url"),
        ("[[log.witnesses]]\nname = 'x'\nurl = 'http://h'\nkey = 'k'\nkye = 1\n", "kye"),
    ],
)
def test_invalid_witness_config_is_refused(tmp_path: Path, text: str, fragment: str):
    with pytest.raises(SettingsError, match=fragment):
        load(tmp_path, text)


def test_a_quorum_of_at_most_half_is_allowed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level("WARNING", logger="alpr_proxy"):
        s = load(tmp_path, "[log]\nwitness_quorum = 1\n" + witness(A) + witness(B, port=1))
    assert s.log.witness_quorum == 1
    assert "two disjoint halves could cosign two forks" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="alpr_proxy"):
        load(tmp_path, "[log]\nwitness_quorum = 2\n" + witness(A) + witness(B, port=1))
    assert "disjoint" not in caplog.text


def test_witnesses_are_checked_even_while_the_quorum_is_zero(tmp_path: Path):
    assert len(load(tmp_path, witness(A)).log.witnesses) == 1
    with pytest.raises(SettingsError, match="is named"):
        load(tmp_path, witness(A, name="not-its-name.example/w"))
