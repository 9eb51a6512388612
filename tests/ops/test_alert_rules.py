"""ops/: the alert rules pass their promtool unit tests, every alert is tested firing, the
dashboard is importable, and neither names a metric (or label) that proxy/metrics.py lacks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import Counter, Gauge, Histogram

from proxy import metrics

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "ops" / "prometheus"
DASHBOARD = ROOT / "ops" / "grafana" / "alpr-proxy.json"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")

# Label names Prometheus adds or histograms carry, valid on every alpr_proxy_ series.
_TARGET_LABELS = {"job", "instance"}
_NAME = re.compile(r"\b(alpr_proxy_[a-z0-9_]+|up)\b")
_SELECTOR = re.compile(r"\b(alpr_proxy_[a-z0-9_]+|up)\{([^}]*)\}")
_MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)")
# Grafana's variables, replaced by values promtool can parse.
_GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1h", "$job": "alpr-proxy"}


def sample_names() -> Iterator[str]:
    """Every sample name /metrics can expose (for the alert-rule and dashboard drift test)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
    }
    for family in metrics.REGISTRY.collect():
        for suffix in suffixes[family.type]:
            yield family.name + suffix
    yield metrics.CHECKPOINT_AGE


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, cwd=ROOT, timeout=60, check=False
    )


def rule_exprs() -> list[str]:
    """Each alert's expr from alerts.yml (plain or folded `>-` scalars)."""
    text = (PROM / "alerts.yml").read_text()
    blocks = re.findall(r"\n\s+expr: (>-\n(?:\s{10,}.*\n)+|.*\n)", text)
    return [" ".join(line.strip() for line in b.removeprefix(">-").splitlines()) for b in blocks]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def exposed_labels() -> dict[str, set[str]]:
    """Sample name -> label names it may carry, from the metric objects in proxy/metrics.py."""
    labels = {
        obj._name: set(obj._labelnames)
        for obj in vars(metrics).values()
        if isinstance(obj, Counter | Gauge | Histogram)
    }
    out = {}
    for sample in sample_names():
        base = max((b for b in labels if sample.startswith(b)), key=len, default=sample)
        extra = {"le"} if sample.endswith("_bucket") else set()
        out[sample] = labels.get(base, set()) | extra | _TARGET_LABELS
    out["up"] = set(_TARGET_LABELS)  # Prometheus's own, per scrape target
    return out


@needs_promtool
def test_alert_rules_pass_their_unit_tests():
    result = promtool("test", "rules", str(PROM / "alerts_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@needs_promtool
def test_prometheus_config_and_rules_are_valid():
    result = promtool("check", "config", str(PROM / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 11 rules found" in result.stdout


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path):
    exprs = dashboard_exprs()
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for i, expr in enumerate(exprs):
        for var, sub in _GRAFANA_VARS.items():
            expr = expr.replace(var, sub)
        rules += [f"      - record: dashboard:expr_{i}", f"        expr: {json.dumps(expr)}"]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text("\n".join(rules) + "\n")
    result = promtool("check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


def test_every_alert_has_a_test_where_it_fires():
    alerts = re.findall(r"- alert: (\w+)", (PROM / "alerts.yml").read_text())
    assert len(alerts) == len(rule_exprs()) == 11
    tests = (PROM / "alerts_test.yml").read_text()
    firing = set()
    for case in tests.split("- eval_time:")[1:]:
        name = re.search(r"alertname: (\w+)", case)
        if name and "exp_labels" in case:
            firing.add(name.group(1))
    assert firing == set(alerts)
    required = {
        "AuditWritesFailing",
        "CheckpointStale",
        "RefusalSpike",
        "NotReady",
        "SensitiveLocationProbing",  # issue 13, item 2
        "WitnessQuorumStale",  # issue 15: no checkpoint reached the witness quorum
        "ExigentReviewOverdue",  # issue 17: exigent searches past their review deadline
    }
    assert {f"AlprProxy{n}" for n in required} <= set(alerts)


@pytest.mark.parametrize("source", ["alerts", "alerts_test", "dashboard"])
def test_metric_and_label_names_exist_in_proxy_metrics(source: str):
    if source == "dashboard":
        text = "\n".join(dashboard_exprs())
        text += "\n" + json.dumps(dashboard()["templating"])
    else:
        text = (PROM / f"{source}.yml").read_text()
    known = exposed_labels()
    used = set(_NAME.findall(text))
    assert used, "no metric names found"
    assert used <= set(known), sorted(used - set(known))
    for name, matchers in _SELECTOR.findall(text):
        for label in _MATCHER.findall(matchers):
            assert label in known[name], f"{name} has no label {label!r}"
    if source != "alerts_test":  # test inputs have no grouping clauses
        exprs = rule_exprs() if source == "alerts" else dashboard_exprs()
        for expr in exprs:
            allowed = set().union(*(known[n] for n in _NAME.findall(expr)))
            for group in _GROUPING.findall(expr):
                for label in filter(None, (g.strip() for g in group.split(","))):
                    assert label in allowed, f"{label!r} in {expr}"


def test_dashboard_is_an_importable_grafana_dashboard():
    d = dashboard()
    assert isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    assert d["title"] and d["uid"]
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    for p in d["panels"]:
        assert set(p["gridPos"]) == {"h", "w", "x", "y"}
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24
        if p["type"] == "row":
            continue
        assert p["type"] in {"timeseries", "stat"} and p["targets"], p["title"]
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        ref_ids = [t["refId"] for t in p["targets"]]
        assert len(ref_ids) == len(set(ref_ids)) and all(t["expr"] for t in p["targets"])
    # What the dashboard is for: each of these has a panel.
    exprs = "\n".join(dashboard_exprs())
    for metric in (
        "alpr_proxy_searches_total",
        "alpr_proxy_reads_total",
        "alpr_proxy_stage_seconds_bucket",
        "alpr_proxy_audit_batch_size_bucket",
        "alpr_proxy_audit_commit_seconds_bucket",
        "alpr_proxy_audit_queue_depth",
        "alpr_proxy_audit_checkpoint_age_seconds",
        "alpr_proxy_audit_log_entries",
    ):
        assert metric in exprs, metric
    assert 'decision="refused"' in exprs and "sum by (reason)" in exprs
    assert "histogram_quantile(0.5," in exprs and "histogram_quantile(0.99," in exprs
