"""Synthetic plate reads for the demo (and, later, the load generator).

`generate_reads` is pure and streams rows in time order, one day at a time, so it can produce far
more rows than fit in memory; `seed_reads` COPYs them into `alpr.reads`.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Final

import asyncpg

from proxy.demo.city import (
    ALAMEDA_SO,
    BERKELEY_PD,
    CHP,
    METRES_PER_DEG_LAT,
    OAKLAND_PD,
    PIEDMONT_PD,
    SITES,
    UC_BERKELEY_PD,
    UTC_PACIFIC_OFFSET,
    Camera,
    build_cameras,
)
from proxy.demo.policy import DEMO_PLATE

# Matches the column order of alpr.reads (SPEC §4).
ReadRow = tuple[int, str, str | None, datetime, float, float, str, str]
COLUMNS: Final = (
    "id",
    "plate",
    "plate_state",
    "observed_at",
    "lat",
    "lon",
    "camera_id",
    "agency_ori",
)
SPAN_DAYS: Final = 729  # full local days before today, plus today so far: within two years
ROUTE_SHARE: Final = 0.75  # how often a car passes one of its usual cameras
JITTER_M: Final = 8.0  # a read's position: within this many metres of its camera, each axis

# Relative traffic by local hour: quiet nights, morning and evening commutes.
_HOURLY: Final = (2, 1, 1, 1, 1, 2, 5, 9, 10, 7, 6, 6, 6, 6, 6, 7, 9, 10, 9, 7, 5, 4, 3, 2)
_HOUR_CUM: Final = tuple(itertools.accumulate(_HOURLY))
_LETTERS: Final = "ABCDEFGHJKLMNPRSTUVWXYZ"  # CA skips I, O and Q (they read as 1 and 0)
_DIGITS: Final = "0123456789"

# DEMO_PLATE's life, as (camera owner or sensitive site, days ago, local hour). Berkeley PD and
# UC Berkeley PD share with nobody; three reads fall inside sensitive sites (the rally only
# during its event window); three are older than a 365-day retention.
_PROTEST: Final = "Rally at Frank H. Ogawa Plaza"
DEMO_SCHEDULE: Final[tuple[tuple[str, int, int], ...]] = (
    *((OAKLAND_PD, d, h) for d, h in ((2, 8), (3, 17), (5, 8), (9, 18), (14, 7), (21, 17))),
    (ALAMEDA_SO, 6, 13),
    (ALAMEDA_SO, 33, 22),
    (ALAMEDA_SO, 70, 11),
    (CHP, 1, 7),
    (CHP, 4, 18),
    (CHP, 12, 8),
    (CHP, 45, 16),
    (PIEDMONT_PD, 8, 19),
    (PIEDMONT_PD, 27, 9),
    (BERKELEY_PD, 10, 20),
    (BERKELEY_PD, 40, 21),
    (UC_BERKELEY_PD, 18, 12),
    ("Reproductive health clinic, East Oakland", 20, 10),
    ("Cathedral of Christ the Light", 13, 9),
    (_PROTEST, 30, -1),  # hour set from the rally's event window
    (OAKLAND_PD, 400, 8),
    (OAKLAND_PD, 520, 17),
    (OAKLAND_PD, 690, 9),
)
DEMO_PLATE_READS: Final = len(DEMO_SCHEDULE)


@dataclass(frozen=True, slots=True)
class SeedSummary:
    already_seeded: bool  # the table had rows; nothing was written
    total_reads: int
    reads_per_owner: Mapping[str, int]
    demo_plate: str
    demo_plate_reads: int

    def describe(self) -> str:
        head = "alpr.reads already had rows; left as is" if self.already_seeded else "seeded"
        owners = ", ".join(f"{o}: {n}" for o, n in sorted(self.reads_per_owner.items()))
        return (
            f"{head}: {self.total_reads} reads ({owners}); "
            f"{self.demo_plate}: {self.demo_plate_reads} reads"
        )


def _plate(rng: random.Random) -> tuple[str, str]:
    """A plate and its state: mostly current-series California, some neighbours' formats."""
    r = rng.random()

    def pick(alphabet: str, k: int) -> str:
        return "".join(rng.choices(alphabet, k=k))

    if r < 0.84:  # 7ABC123; the commonest, so drawn with one random number
        x = int(rng.random() * 6 * 23**3 * 1000)
        x, digits = divmod(x, 1000)
        x, c = divmod(x, 23)
        first, b = divmod(x, 23)
        lead, a = divmod(first, 23)
        return f"{lead + 4}{_LETTERS[a]}{_LETTERS[b]}{_LETTERS[c]}{digits:03d}", "CA"
    if r < 0.88:  # commercial 1A23456
        return pick("123456789", 1) + pick(_LETTERS, 1) + pick(_DIGITS, 5), "CA"
    if r < 0.91:  # personalised
        return pick(_LETTERS + _DIGITS, rng.randint(2, 7)), "CA"
    if r < 0.95:  # Nevada 123A45
        return pick(_DIGITS, 3) + pick(_LETTERS, 1) + pick(_DIGITS, 2), "NV"
    if r < 0.975:  # Oregon 123ABC
        return pick(_DIGITS, 3) + pick(_LETTERS, 3), "OR"
    return pick(_LETTERS, 3) + pick(_DIGITS, 4), "AZ"  # Arizona ABC1234


def _plates(rng: random.Random, n: int) -> list[tuple[str, str]]:
    seen = {DEMO_PLATE}
    out: list[tuple[str, str]] = []
    while len(out) < n:
        plate, state = _plate(rng)
        if plate not in seen:
            seen.add(plate)
            out.append((plate, state))
    return out


def _midnight_utc(now: datetime) -> datetime:
    """UTC instant of today's local (Pacific) midnight."""
    local = now.astimezone(UTC) - UTC_PACIFIC_OFFSET
    return datetime(local.year, local.month, local.day, tzinfo=UTC) + UTC_PACIFIC_OFFSET


def _demo_rows(
    rng: random.Random, cameras: Sequence[Camera], now: datetime, midnight: datetime
) -> dict[int, list[tuple[datetime, str, str | None, Camera]]]:
    """DEMO_PLATE's reads, keyed by how many days before today they fall."""
    by_owner: dict[str, list[Camera]] = {}
    for cam in cameras:
        if cam.site is None:
            by_owner.setdefault(cam.agency_ori, []).append(cam)
    at_site = {cam.site: cam for cam in cameras if cam.site is not None}
    sites = {s.name: s for s in SITES}
    out: dict[int, list[tuple[datetime, str, str | None, Camera]]] = {}
    for where, days, hour in DEMO_SCHEDULE:
        site = sites.get(where)
        if site is not None and site.event is not None:
            at = site.event.window(now)[0] + timedelta(minutes=90)
            days = -((at - midnight) // timedelta(days=1))
        else:
            at = midnight - timedelta(days=days, hours=-hour, minutes=-rng.randrange(60))
        cam = at_site[where] if site is not None else rng.choice(by_owner[where])
        out.setdefault(days, []).append((at, DEMO_PLATE, "CA", cam))
    return out


def generate_reads(
    *,
    count: int = 200_000,
    seed: int = 7,
    now: datetime,
    cameras: Sequence[Camera] | None = None,
    first_id: int = 1,
) -> Iterator[ReadRow]:
    """`count` reads over the two years before `now`, oldest first, ids from `first_id` on.

    Plate popularity is Zipf-like: a few commuters pass daily, most cars once or twice; each car
    mostly passes the cameras of its usual route (consecutive cameras on one road).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if count < DEMO_PLATE_READS:
        raise ValueError(f"count must be at least {DEMO_PLATE_READS}")
    cams = list(cameras) if cameras is not None else build_cameras(seed)
    have = {c.agency_ori for c in cams if c.site is None} | {c.site for c in cams}
    if missing := {where for where, _, _ in DEMO_SCHEDULE} - have:
        raise ValueError(f"cameras lack owners or sites DEMO_PLATE needs: {sorted(missing)}")
    return _generate(count, random.Random(seed), now.astimezone(UTC), cams, first_id)


def _generate(
    count: int, rng: random.Random, now: datetime, cams: Sequence[Camera], next_id: int
) -> Iterator[ReadRow]:
    midnight = _midnight_utc(now)
    demo = _demo_rows(rng, cams, now, midnight)
    pool = _plates(rng, max(500, count // 4))
    plate_cum = list(itertools.accumulate((k + 8) ** -1.1 for k in range(len(pool))))
    hours = range(24)
    n_cams = len(cams)
    random_ = rng.random
    jitter = {
        c.camera_id: (
            2 * JITTER_M / METRES_PER_DEG_LAT,
            2 * JITTER_M / (METRES_PER_DEG_LAT * math.cos(math.radians(c.lat))),
        )
        for c in cams
    }

    # Reads per day in proportion to its length; today counts only up to now.
    today_frac = (now - midnight).total_seconds() / 86_400
    total = SPAN_DAYS + today_frac
    random_total = count - DEMO_PLATE_READS
    bounds = [round(random_total * d / total) for d in range(SPAN_DAYS + 1)] + [random_total]
    for i in range(SPAN_DAYS + 1):
        days_ago = SPAN_DAYS - i
        start = midnight - timedelta(days=days_ago)
        n = bounds[i + 1] - bounds[i]
        rows: list[tuple[datetime, str, str | None, Camera]] = list(demo.get(days_ago, ()))
        picks = rng.choices(range(len(pool)), cum_weights=plate_cum, k=n)
        if days_ago == 0:  # today: uniform up to now, so nothing lies in the future
            secs = [random_() * (now - midnight).total_seconds() for _ in range(n)]
        else:
            secs = [(h + random_()) * 3600 for h in rng.choices(hours, cum_weights=_HOUR_CUM, k=n)]
        for k, sec in zip(picks, secs, strict=True):
            if random_() < ROUTE_SHARE:  # the car's route: a few neighbouring cameras
                cam = cams[(k * 7919 + 17 + int(random_() * (3 + k % 4))) % n_cams]
            else:
                cam = cams[int(random_() * n_cams)]
            plate, state = pool[k]
            # Now and then the reader cannot tell the state.
            rows.append(
                (start + timedelta(seconds=sec), plate, None if random_() < 0.02 else state, cam)
            )
        rows.sort(key=lambda row: row[0])
        for at, plate, st, cam in rows:
            # GPS jitter of a few metres around the camera.
            dlat, dlon = jitter[cam.camera_id]
            yield (
                next_id,
                plate,
                st,
                at,
                cam.lat + (random_() - 0.5) * dlat,
                cam.lon + (random_() - 0.5) * dlon,
                cam.camera_id,
                cam.agency_ori,
            )
            next_id += 1


async def _summary_from_table(conn: asyncpg.Connection) -> SeedSummary:
    rows = await conn.fetch("SELECT agency_ori, count(*) AS n FROM alpr.reads GROUP BY agency_ori")
    owners = {str(r["agency_ori"]): int(r["n"]) for r in rows}
    demo = await conn.fetchval("SELECT count(*) FROM alpr.reads WHERE plate = $1", DEMO_PLATE)
    return SeedSummary(True, sum(owners.values()), MappingProxyType(owners), DEMO_PLATE, int(demo))


async def seed_reads(
    conn: asyncpg.Connection, *, count: int = 200_000, seed: int = 7, now: datetime
) -> SeedSummary:
    """Fill an empty `alpr.reads` with `count` synthetic reads (COPY), then ANALYZE.

    A table that already has rows is left untouched, so demo restarts are idempotent; the
    summary then describes what is there.
    """
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM alpr.reads)"):
        return await _summary_from_table(conn)
    owners: Counter[str] = Counter()
    demo = 0

    def counted() -> Iterator[ReadRow]:
        nonlocal demo
        for row in generate_reads(count=count, seed=seed, now=now):
            owners[row[7]] += 1
            demo += row[1] == DEMO_PLATE
            yield row

    async with conn.transaction():
        await conn.copy_records_to_table(
            "reads", schema_name="alpr", columns=list(COLUMNS), records=counted()
        )
    await conn.execute("ANALYZE alpr.reads")
    return SeedSummary(
        False, sum(owners.values()), MappingProxyType(dict(owners)), DEMO_PLATE, demo
    )
