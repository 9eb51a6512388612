"""load/witness_bench.py's configs, summary and report (no servers, no timing claims)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from load import bench
from load.witness_bench import (
    cosignatures,
    markdown,
    parse_args,
    proxy_toml,
    summarize,
    witness_toml,
)
from proxy.audit.note import generate_signer_key
from proxy.demo.embedded import EmbeddedPostgres
from proxy.settings import load_settings
from proxy.witness.config import load_witness_config
from proxy.witness.signer import WitnessSigner


def test_the_configs_load_as_the_proxy_and_the_witness_read_them(tmp_path: Path) -> None:
    _, log_vkey = generate_signer_key(bench.ORIGIN)
    signers = [WitnessSigner.generate(f"w{i}.bench.invalid/witness") for i in range(2)]
    witness = tmp_path / "witness.toml"
    witness.write_text(witness_toml(signers[0].name, 9301, log_vkey))
    cfg = load_witness_config(witness, env={})
    assert (cfg.port, cfg.name, list(cfg.log_keys)) == (9301, signers[0].name, [bench.ORIGIN])

    pg = EmbeddedPostgres(tmp_path / "pg", port=5999)
    base = bench.write_config(pg, 8080, 1, 4, audit_db="alpr_audit_w")
    on = [(s.name, f"http://127.0.0.1:{9301 + i}", s.vkey) for i, s in enumerate(signers)]
    for witnesses, quorum in (([], 0), (on, 2)):
        path = tmp_path / f"proxy-{quorum}.toml"
        path.write_text(proxy_toml(base, witnesses))
        log = load_settings(path, env={}).log
        assert log.checkpoint_interval_s == 1
        assert log.witness_quorum == quorum
        assert [w.url for w in log.witnesses] == [w[1] for w in witnesses]


def test_cosignatures_counts_signature_lines_beyond_the_logs() -> None:
    note = "origin\n5\nroot=\n\n\u2014 log abc\n\u2014 w1 def\n\u2014 w2 ghi\n"
    assert cosignatures(note) == 2
    assert cosignatures("origin\n5\nroot=\n\n\u2014 log abc\n") == 0
    assert cosignatures("") == 0


def _run(round_: int, label: str, rps: float, p50: float) -> dict[str, Any]:
    return {
        "round": round_, "witnessing": label, "rps": rps, "p50_ms": p50, "p99_ms": 2 * p50,
        "errors": 0, "app_cpu_ms": 1.0, "pg_cpu_ms": 0.5,
    }  # fmt: skip


def test_summary_compares_the_means_and_the_report_shows_every_run() -> None:
    runs = [_run(1, "off", 1000, 10), _run(1, "on", 960, 11), _run(2, "on", 940, 12)]
    runs.append(_run(2, "off", 1000, 30))
    report = summarize(runs)
    assert report["means"]["off"]["rps"] == 1000
    assert report["means"]["on"]["rps"] == 950
    assert report["means"]["off"]["p50_ms"] == 20  # median of the runs' p50
    assert report["ratio"] == 0.95 and report["meets_target"]
    assert not summarize([_run(1, "off", 1000, 1), _run(1, "on", 940, 1)])["meets_target"]
    report.update(
        started_at="2026-12-07T20:00:00+00:00",
        machine={"nproc": 2, "cpu_model": "x", "loadavg_start": [1], "loadavg_end": [1],
                 "pinning": {}},
        setup={"reads": 1000, "duration_s": 8, "warmup_s": 2, "rounds": 2, "workers": 1,
               "connections": 32, "witness_quorum": 2, "witnesses": ["a", "b"]},
        served_checkpoint={"status": 200, "cosignatures": 2},
    )  # fmt: skip
    text = markdown(report)
    assert text.count("\n| 1 |") == 2 and text.count("\n| 2 |") == 2
    assert "ratio on / off: **0.95** (meets" in text


def test_options_are_load_benchs_plus_rounds() -> None:
    args = parse_args(["--rounds", "4", "--duration", "3", "--workers", "2"])
    assert (args.rounds, args.duration, args.workers) == (4, 3.0, 2)
    assert (parse_args([]).rounds, parse_args([]).control) == (3, False)
    assert parse_args(["--control"]).control  # A/A: the second proxy without witnesses too
