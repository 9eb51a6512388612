"""The walk-through's area search (SPEC §12): around the demo plate's latest read by one of the
requester's own cameras, a few hours either side, so that it has reads to return once a
supervisor approves it. Taken from the store because the seeded reads date from the demo's
first start, not from today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from proxy.demo import policy as demo

RADIUS_M: Final = 150
HALF_WINDOW: Final = timedelta(hours=2)  # HOMICIDE allows 6 hours


@dataclass(frozen=True, slots=True)
class AreaExample:
    lat: float
    lon: float
    start: datetime
    end: datetime

    def env(self) -> dict[str, str]:
        """The walk-through's AREA_* variables."""
        return {
            "AREA_LAT": f"{self.lat:.5f}",
            "AREA_LON": f"{self.lon:.5f}",
            "AREA_FROM": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "AREA_TO": self.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


async def area_example(store_dsn: str) -> AreaExample:
    conn = await asyncpg.connect(store_dsn)
    try:
        row = await conn.fetchrow(
            "SELECT observed_at, lat, lon FROM alpr.reads WHERE plate = $1 AND agency_ori = $2"
            " AND observed_at <= now() ORDER BY observed_at DESC LIMIT 1",
            demo.DEMO_PLATE,
            demo.DEMO_INVESTIGATOR.ori,
        )
    finally:
        await conn.close()
    if row is None:  # the seed always writes them; an emptied store still gets a valid query
        at, lat, lon = datetime.now(UTC) - timedelta(days=1), 37.8044, -122.2712
    else:
        at, lat, lon = row["observed_at"], row["lat"], row["lon"]
    at = at.astimezone(UTC).replace(second=0, microsecond=0)
    return AreaExample(float(lat), float(lon), at - HALF_WINDOW, at + HALF_WINDOW)
