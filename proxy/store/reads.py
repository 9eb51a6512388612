"""The only SQL against the plate-read store (`alpr.reads`, SPEC §4).

The store pool connects as a read-only role, and every session is read-only as well, so a bug
here cannot modify evidence. Rows come back newest first; filtering happens in the policy's
disclosure step so that withheld reads can be counted for the audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

_COLUMNS = "id, plate, plate_state, observed_at, lat, lon, camera_id, agency_ori"

# Half-open window [from, to): adjacent windows never return the same read twice.
_EXACT = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE plate = $1 AND observed_at >= $2 AND observed_at < $3"
    " ORDER BY observed_at DESC, id DESC"
)
_EXACT_STATE = (
    f"SELECT {_COLUMNS} FROM alpr.reads"
    " WHERE plate = $1 AND observed_at >= $2 AND observed_at < $3 AND plate_state = $4"
    " ORDER BY observed_at DESC, id DESC"
)


async def exact_plate(
    pool: asyncpg.Pool,
    plate: str,
    plate_state: str | None,
    start: datetime,
    end: datetime,
) -> Sequence[asyncpg.Record]:
    if plate_state is None:
        return await pool.fetch(_EXACT, plate, start, end)  # type: ignore[no-any-return]
    return await pool.fetch(_EXACT_STATE, plate, start, end, plate_state)  # type: ignore[no-any-return]
