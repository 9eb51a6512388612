"""Store data at scale: fill `alpr.reads` with N realistic synthetic reads, fast.

    python -m load.datagen --dsn DSN --reads N [--seed S] [--plates P] [--indexes all|exact]
                           [--jobs 2] [--end 2026-01-01T00:00:00Z]

DSN is a superuser DSN of a store database already migrated by `proxy.migrate`. The table is
emptied first. The city is the demo's (`proxy.demo.city`: its cameras and their six owning
agencies), so the demo policy and load/bench.py's tokens work against the result. Plates have
a Zipf popularity (rank exponent 1, shifted so even the busiest commuter is read only a few
times a day), each car mostly passes the cameras of its route, and two years of reads follow a
daily and weekly traffic shape. Reads are generated in fixed chunks with numpy, each chunk
from its own seed, so the data depends on --seed, --plates and --end, never on --jobs.

Speed: chunks are encoded straight into PostgreSQL's binary COPY format and streamed over
--jobs connections, with the indexes and primary key dropped; then VACUUM FREEZE (so no
autovacuum or hint-bit writes land in a later benchmark), the index builds (spread over the
same connections), ANALYZE. `--indexes exact` rebuilds only the primary key and the
exact-plate index: the mode for 100M reads, where the trigram GIN and GiST indexes, which
exact-plate searches never use, would take most of an hour on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import numpy as np
import numpy.typing as npt

from proxy.demo.city import UTC_PACIFIC_OFFSET, build_cameras

SPAN_DAYS = 730
CHUNK = 200_000  # rows per generated chunk; fixed, so the data does not depend on --jobs
CAMERA_SEED = 7  # the demo store's camera network (seed_reads' default seed)
ROUTE_SHARE = 0.75  # how often a car passes one of its usual cameras
JITTER_M = 8.0  # a read lies within this many metres of its camera, each axis
SHIFT = 5e-4  # popularity shift, as a fraction of the plates: caps the busiest plates
EXACT_INDEX = "reads_plate_observed_idx"
_OID = "'alpr.reads'::regclass"
_HOURLY = (2, 1, 1, 1, 1, 2, 5, 9, 10, 7, 6, 6, 6, 6, 6, 7, 9, 10, 9, 7, 5, 4, 3, 2)  # local
_WEEKEND = 0.8
_EPOCH_2000_US = 946_684_800 * 1_000_000  # PostgreSQL's binary timestamps count from 2000
_COLUMNS = ["id", "observed_at", "lat", "lon", "plate", "plate_state", "camera_id", "agency_ori"]
# California skips I, O and Q in plates; loadgen's miss plates contain Q, so never match.
_ALPHABET = {"D": b"0123456789", "N": b"123456789", "H": b"456789"}
_ALPHABET["L"] = b"ABCDEFGHJKLMNPRSTUVWXYZ"
# (pattern, state, share): current California series, commercial, personalised (letters
# only), neighbours. Patterns differ position by position, so formats never collide.
FORMATS = (
    ("HLLLDDD", "CA", 0.84),
    ("NLDDDDD", "CA", 0.04),
    ("LLLLL", "CA", 0.01),
    ("LLLLLL", "CA", 0.01),
    ("LLLLLLL", "CA", 0.01),
    ("DDDLDD", "NV", 0.04),
    ("DDDLLL", "OR", 0.025),
    ("LLLDDDD", "AZ", 0.025),
)
_PW = 7  # longest plate pattern
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Plates:
    text: npt.NDArray[np.bytes_]  # S7, by popularity rank (0 = busiest)
    length: npt.NDArray[np.int32]
    state: npt.NDArray[np.bytes_]  # S2
    route_start: I64  # first camera of the car's route
    route_len: I64


def make_plates(count: int, seed: int, n_cams: int) -> Plates:
    rng = np.random.default_rng([seed, 0])
    cum = np.cumsum([f[2] for f in FORMATS])
    fmt = np.minimum(np.searchsorted(cum, rng.random(count) * cum[-1], "right"), len(FORMATS) - 1)
    chars = np.zeros((count, _PW), np.uint8)
    length = np.zeros(count, np.int32)
    for f, (pattern, _, _) in enumerate(FORMATS):
        idx = np.flatnonzero(fmt == f)
        radix = [len(_ALPHABET[c]) for c in pattern]
        cap = int(np.prod(radix, dtype=np.int64))
        if len(idx) > cap // 2:
            raise ValueError(f"too many plates: format {pattern} has only {cap} values")
        codes = np.empty(0, np.int64)
        while len(codes) < len(idx):  # distinct random codes, in draw order
            more = np.concatenate([codes, rng.integers(cap, size=len(idx) + 64)])
            _, first = np.unique(more, return_index=True)
            codes = more[np.sort(first)][: len(idx)]
        for pos in range(len(pattern) - 1, -1, -1):
            alphabet = np.frombuffer(_ALPHABET[pattern[pos]], np.uint8)
            chars[idx, pos] = alphabet[codes % radix[pos]]
            codes //= radix[pos]
        length[idx] = len(pattern)
    states = np.array([s.encode() for _, s, _ in FORMATS], "S2")[fmt]
    route = rng.integers(n_cams, size=count), rng.integers(3, 7, size=count)
    return Plates(chars.view(f"S{_PW}").ravel(), length, states, *route)


def _text(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(4, "big") + data


class Generator:
    """Chunk c holds ids c*CHUNK+1 .. : ids follow time, as in a store that appends reads."""

    def __init__(self, reads: int, seed: int, plates: int, end: datetime) -> None:
        self.reads, self.seed, self.n_plates = reads, seed, plates
        cams = build_cameras(CAMERA_SEED)
        self.cam_lat, self.cam_lon = np.array([[c.lat, c.lon] for c in cams]).T
        # camera_id and agency_ori go together: one blob, both with their length prefixes.
        blobs = [_text(c.camera_id) + _text(c.agency_ori) for c in cams]
        self.cam_blob = np.array(blobs)
        self.cam_len = np.array([len(b) for b in blobs], np.int64)
        self.plates = make_plates(plates, seed, len(blobs))
        # One binary COPY tuple, text fields padded to their widest; padding is cut out later.
        fields: list[tuple[str, str]] = [("n", ">i2")]
        for name, kind in (("id", ">i8"), ("ts", ">i8"), ("lat", ">f8"), ("lon", ">f8")):
            fields += [(name + "_len", ">i4"), (name, kind)]
        fields += [("plate_len", ">i4"), ("plate", f"S{_PW}"), ("state_len", ">i4")]
        fields += [("state", "S2"), ("cam", self.cam_blob.dtype.str)]
        self.dtype = np.dtype(fields)
        # Bytes of a padded row to send, by its shape (plate length, state known, camera): a
        # text field keeps its 4-byte length and its characters (a NULL only the length).
        shape = (
            ("plate", np.arange(_PW + 1)[:, None, None]),
            ("state", np.array([0, 2])[None, :, None]),
            ("cam", self.cam_len[None, None, :]),
        )
        keep = np.ones((_PW + 1, 2, len(blobs), self.dtype.itemsize), bool)
        for name, used in shape:
            field, off = self.dtype.fields[name][:2]  # type: ignore[index]
            keep[..., off : off + field.itemsize] = np.arange(field.itemsize) < used[..., None]
        self.keep = keep.reshape(-1, self.dtype.itemsize)
        # Hourly traffic over the span: local hour of day, quieter weekends.
        self.end = end.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        start_s = int((self.end - timedelta(days=SPAN_DAYS)).timestamp())
        local = start_s + np.arange(SPAN_DAYS * 24, dtype=np.int64) * 3600
        local -= int(UTC_PACIFIC_OFFSET.total_seconds())
        weight = np.array(_HOURLY, np.float64)[(local // 3600) % 24]
        weight *= np.where((local // 86400 + 3) % 7 >= 5, _WEEKEND, 1.0)  # 1970-01-01: Thu
        self.hour_cum = np.concatenate([[0.0], np.cumsum(weight) / weight.sum()])
        self.start_us = start_s * 1_000_000 - _EPOCH_2000_US
        self.log_span = np.log1p(1 / SHIFT)

    @property
    def chunks(self) -> int:
        return -(-self.reads // CHUNK)

    def chunk(self, c: int) -> bytes:
        lo, hi = c * CHUNK, min(self.reads, (c + 1) * CHUNK)
        n = hi - lo
        rng = np.random.default_rng([self.seed, 1, c])
        # Time: stratified inverse CDF of the traffic shape, so read i+1 is never earlier.
        q = (np.arange(lo, hi, dtype=np.float64) + rng.random(n)) / self.reads
        b = np.clip(np.searchsorted(self.hour_cum, q, "right") - 1, 0, len(self.hour_cum) - 2)
        frac = (q - self.hour_cum[b]) / (self.hour_cum[b + 1] - self.hour_cum[b])
        ts = self.start_us + ((b + frac) * 3.6e9).astype(np.int64)
        # Plate by popularity rank r in [0, 1): density proportional to 1 / (r + SHIFT).
        r = SHIFT * np.expm1(rng.random(n) * self.log_span)
        k = np.minimum((r * self.n_plates).astype(np.int64), self.n_plates - 1)
        p = self.plates
        on_route = rng.random(n) < ROUTE_SHARE
        hop = (rng.random(n) * p.route_len[k]).astype(np.int64)
        n_cams = len(self.cam_lat)
        cam = np.where(on_route, (p.route_start[k] + hop) % n_cams, rng.integers(n_cams, size=n))
        lat = self.cam_lat[cam]
        jitter = 2 * JITTER_M / 111_320.0
        lon = self.cam_lon[cam] + (rng.random(n) - 0.5) * jitter / np.cos(np.radians(lat))
        lat = lat + (rng.random(n) - 0.5) * jitter
        unknown_state = rng.random(n) < 0.02  # now and then the reader cannot tell

        row = np.zeros(n, self.dtype)
        row["n"] = len(_COLUMNS)
        for name, values in (("id", np.arange(lo + 1, hi + 1)), ("ts", ts)):
            row[name + "_len"], row[name] = 8, values
        for name, values in (("lat", lat), ("lon", lon)):
            row[name + "_len"], row[name] = 8, values
        row["plate_len"], row["plate"] = p.length[k], p.text[k]
        row["state_len"] = np.where(unknown_state, -1, 2)
        row["state"] = p.state[k]
        row["cam"] = self.cam_blob[cam]
        shape = (p.length[k] * 2 + ~unknown_state) * n_cams + cam
        keep = np.take(self.keep, shape, axis=0)
        return bytes(row.view(np.uint8).reshape(n, -1)[keep].data)


@dataclass
class LoadResult:
    reads: int
    seconds: dict[str, float]  # by phase

    @property
    def rows_per_s(self) -> float:
        return self.reads / max(1e-9, sum(self.seconds.values()))

    def describe(self) -> str:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())
        total = sum(self.seconds.values())
        return f"{self.reads} reads in {total:.1f} s: {self.rows_per_s:,.0f} rows/s ({phases})"


async def _copy(conn: asyncpg.Connection, gen: Generator, chunks: Sequence[int]) -> None:
    if not chunks:
        return

    async def stream() -> AsyncIterator[bytes]:
        yield b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags, header extension
        # Encode the next chunk in a thread (numpy releases the GIL) while this one is sent.
        pending = asyncio.ensure_future(asyncio.to_thread(gen.chunk, chunks[0]))
        for nxt in [*chunks[1:], None]:
            data = await pending
            if nxt is not None:
                pending = asyncio.ensure_future(asyncio.to_thread(gen.chunk, nxt))
            yield data
        yield b"\xff\xff"

    await conn.execute("SET synchronous_commit = off")
    await conn.copy_to_table(
        "reads", schema_name="alpr", columns=_COLUMNS, source=stream(), format="binary"
    )


async def _index_defs(conn: asyncpg.Connection) -> list[dict[str, str | bool]]:
    """The table's indexes (as the migrations made them), and those an earlier run dropped:
    remembered in the table's comment, so a later or interrupted run can rebuild them."""
    rows = await conn.fetch(
        "SELECT i.indexname, i.indexdef, c.contype = 'p' AS pk FROM pg_indexes i"
        " LEFT JOIN pg_constraint c ON c.conname = i.indexname"
        f"  AND c.conrelid = {_OID}"
        " WHERE i.schemaname = 'alpr' AND i.tablename = 'reads' ORDER BY i.indexname"
    )
    defs = {r["indexname"]: {"name": r[0], "def": r[1], "pk": bool(r[2])} for r in rows}
    comment = await conn.fetchval(f"SELECT obj_description({_OID}, 'pg_class')")
    if (comment or "").startswith("{"):
        for d in json.loads(comment).get("indexes", []):
            defs.setdefault(d["name"], d)
    return sorted(defs.values(), key=lambda d: str(d["name"]))


async def _comment(conn: asyncpg.Connection, doc: dict[str, object]) -> None:
    text = json.dumps(doc, sort_keys=True).replace("'", "''")
    await conn.execute(f"COMMENT ON TABLE alpr.reads IS '{text}'")


async def generate(
    dsn: str,
    reads: int,
    *,
    seed: int = 1,
    plates: int | None = None,
    indexes: str = "all",
    jobs: int = 2,
    end: datetime | None = None,
    maintenance_work_mem: str = "1GB",
    report: Callable[[str], object] = print,
) -> LoadResult:
    """Replace the reads at `dsn` with `reads` generated ones; see the module docstring."""
    if reads < 1 or jobs < 1 or indexes not in ("all", "exact"):
        raise ValueError("need reads >= 1, jobs >= 1, indexes 'all' or 'exact'")
    end = end or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    n_plates = plates or max(100, reads // 10)
    seconds: dict[str, float] = {}
    t = time.monotonic()

    def phase(name: str) -> None:
        nonlocal t
        seconds[name] = round(time.monotonic() - t, 2)
        t = time.monotonic()
        report(f"  {name}: {seconds[name]:.1f} s")

    gen = Generator(reads, seed, n_plates, end)
    conns = [await asyncpg.connect(dsn) for _ in range(jobs)]
    main = conns[0]
    try:
        if await main.fetchval(f"SELECT relkind::text FROM pg_class WHERE oid = {_OID}") != "r":
            raise ValueError("alpr.reads is not a table (a view over an operator's table?)")
        defs = await _index_defs(main)
        params = {"reads": reads, "seed": seed, "plates": n_plates, "end": gen.end.isoformat()}
        async with main.transaction():
            await _comment(main, {"datagen": params, "state": "loading", "indexes": defs})
            await main.execute("TRUNCATE alpr.reads")
            for d in defs:
                name = f'"{d["name"]}"'
                drop = "ALTER TABLE alpr.reads DROP CONSTRAINT IF EXISTS " if d["pk"] else ""
                await main.execute(drop + name if drop else f"DROP INDEX IF EXISTS alpr.{name}")
        phase("setup")
        await asyncio.gather(
            *(_copy(c, gen, range(j, gen.chunks, jobs)) for j, c in enumerate(conns))
        )
        phase("copy")
        await main.execute("VACUUM (FREEZE) alpr.reads")  # all-visible, frozen: no later vacuum
        phase("vacuum")
        todo = [d for d in defs if indexes == "all" or d["pk"] or d["name"] == EXACT_INDEX]
        # Longest first (GiST, GIN, then btrees), each on the next free connection.
        todo.sort(key=lambda d: (" gist " not in str(d["def"]), " gin " not in str(d["def"])))

        async def build(conn: asyncpg.Connection) -> None:
            await conn.execute(f"SET maintenance_work_mem = '{maintenance_work_mem}'")
            await conn.execute("SET max_parallel_maintenance_workers = 2")
            while todo:
                d = todo.pop(0)
                began = time.monotonic()
                await conn.execute(str(d["def"]))
                if d["pk"]:
                    await conn.execute(
                        f'ALTER TABLE alpr.reads ADD CONSTRAINT "{d["name"]}"'
                        f' PRIMARY KEY USING INDEX "{d["name"]}"'
                    )
                report(f"    {d['name']}: {time.monotonic() - began:.1f} s")

        await asyncio.gather(*(build(c) for c in conns))
        phase("indexes")
        await main.execute("ANALYZE alpr.reads")
        await _comment(main, {"datagen": params | {"indexes": indexes}, "indexes": defs})
        phase("analyze")
    finally:
        for c in conns:
            await c.close()
    return LoadResult(reads, seconds)


async def sample_hit_plates(
    conn: asyncpg.Connection, since: datetime, count: int, seed: int = 5
) -> list[str]:
    """Plates of `count` reads drawn uniformly (with repeats) from those observed since
    `since`, so a plate comes up as often as it was read. Relies on datagen's layout (ids
    1..N, in time order): each draw is one primary-key probe, not a scan of the window."""
    top = await conn.fetchval("SELECT max(id) FROM alpr.reads")
    if top is None:
        return []
    lo, hi = 1, int(top) + 1  # first id observed at or after `since`, by bisection
    while lo < hi:
        mid = (lo + hi) // 2
        at = await conn.fetchval("SELECT observed_at FROM alpr.reads WHERE id = $1", mid)
        lo, hi = (lo, mid) if at is not None and at >= since else (mid + 1, hi)
    if lo > top:
        return []
    ids = np.random.default_rng(seed).integers(lo, int(top) + 1, size=count).tolist()
    rows = await conn.fetch(
        "SELECT r.plate FROM unnest($1::bigint[]) AS s(id) JOIN alpr.reads r USING (id)", ids
    )
    return [str(r["plate"]) for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.datagen", description=__doc__.split("\n")[0])
    p.add_argument("--dsn", required=True, help="superuser DSN of a migrated store database")
    p.add_argument("--reads", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--plates", type=int, help="distinct plates (default: reads / 10)")
    p.add_argument("--indexes", choices=("all", "exact"), default="all")
    p.add_argument("--jobs", type=int, default=2, help="parallel COPY / index connections")
    p.add_argument("--end", type=datetime.fromisoformat, help="default: today 00:00 UTC")
    p.add_argument("--maintenance-work-mem", default="1GB")
    a = vars(p.parse_args(argv))  # named as generate's parameters
    print(f"load.datagen: {a['reads']} reads", flush=True)
    result = asyncio.run(generate(**a, report=lambda s: print(s, flush=True)))
    print(result.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
