"""`alpr-proxy audit report --config FILE --from T --to T [--format csv|json|html]
[--report usage|disclosures|flags|all] [--limit N]`: the oversight reports, offline.

The same queries as GET /v1/audit/reports/* (proxy.oversight.reports), with oversight's scope
(every entry), in one read-only snapshot of the audit database, written to stdout. It reads
with the database credentials of the config, so it is not itself recorded in the log: whoever
can run it can read the tables directly. `--from`/`--to` take RFC 3339 date-times with a zone,
or plain dates meaning UTC midnight (`--from 2026-01-01 --to 2026-04-01`: the first quarter).
Exit 0 with the report; 2 when it cannot run (config, arguments, database).
"""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

from proxy import loops
from proxy.cli.common import SetupError, connect_audit
from proxy.errors import ProxyError
from proxy.oversight.entries import parse_time
from proxy.oversight.period import FlagOptions, Period, snapshot
from proxy.oversight.render import render
from proxy.oversight.reports import REPORTS
from proxy.oversight.reports.kind import Report
from proxy.policy.model import PolicyError
from proxy.search.live_policy import read_policy
from proxy.settings import Settings, SettingsError, load_settings
from proxy.store.pools import DB_ERRORS

PROG = "alpr-proxy audit report"
FORMATS = ("json", "csv", "html")


def _when(name: str, raw: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(raw), datetime.min.time(), tzinfo=UTC)
    except ValueError:
        pass
    try:
        return parse_time(name, raw)
    except ProxyError as exc:
        raise SetupError(exc.message) from None


def _options(settings: Settings, limit: int) -> FlagOptions:
    """The config's policy's approval and exigent windows, judged now; the policy defaults
    (said on stderr) when its file cannot be read where the report runs."""
    try:
        policy, _ = read_policy(settings.policy.file)
    except (OSError, PolicyError) as exc:
        print(f"{PROG}: policy not read ({exc}); approval and exigent windows use the policy"
              " defaults", file=sys.stderr)  # fmt: skip
        return FlagOptions(limit=limit, now=datetime.now(UTC))
    return FlagOptions(
        limit=limit,
        approval_valid_hours=policy.settings.approval_valid_hours,
        exigent_review_hours=policy.settings.exigent_review_hours,
        now=datetime.now(UTC),
    )


async def _run(
    settings: Settings, period: Period, names: tuple[str, ...], limit: int
) -> dict[str, Report]:
    conn = await connect_audit(settings.database)
    options = _options(settings, limit)  # after: a database that is down is the one error
    out: dict[str, Report] = {}
    try:
        async with snapshot(conn):
            for name in names:
                out[name] = await REPORTS[name].run(conn, period, None, options)
    finally:
        await conn.close()
    return out


def report_command(
    config: str, *, from_: str, to: str, fmt: str, report: str, limit: int = 1000
) -> int:
    try:
        if fmt not in FORMATS:
            raise SetupError(f"--format must be one of {', '.join(FORMATS)}")
        if report != "all" and report not in REPORTS:
            raise SetupError(f"--report must be one of {', '.join(REPORTS)}, all")
        if not 1 <= limit <= 100_000:
            raise SetupError("--limit must be from 1 to 100000")
        start, end = _when("from", from_), _when("to", to)
        if start > end:
            raise SetupError("--from must not be after --to")
        settings = load_settings(config)
        names = tuple(REPORTS) if report == "all" else (report,)
        results = loops.run(_run(settings, Period(start, end), names, limit))
    except (
        SettingsError,
        SetupError,
        OSError,
        *DB_ERRORS,
    ) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    sys.stdout.buffer.write(render(results, fmt).encode("utf-8"))  # UTF-8 whatever the locale
    sys.stdout.flush()
    return 0
