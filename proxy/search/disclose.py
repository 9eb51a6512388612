"""What an allowed search may disclose: typed reads in, the response's reads and the audit
entry's outcome out. Pure: the policy's own per-read rule decides, this module counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypedDict

from proxy.model import Read
from proxy.policy.evaluate import Allowed
from proxy.store.base import Withheld

WITHHELD = ("retention", "sensitive_location", "sharing")


class Outcome(TypedDict):
    """What an allowed search's audit entry records of its result (docs/audit-log.md)."""

    matched: int  # every read that matched, disclosed or not
    returned: int
    truncated: bool  # more disclosable reads matched than were returned
    withheld: dict[str, int]  # by reason (WITHHELD)
    disclosed_by_owner: dict[str, int]
    row_limit_reached: bool  # the store's row limit was reached: counts are lower bounds


def disclose(
    reads: Sequence[Read],
    decision: Allowed,
    unfetched: Withheld,
    *,
    row_limit: int,
    row_limit_reached: bool,
) -> tuple[list[dict[str, Any]], Outcome]:
    """Filter read by read; reads arrive newest first. Count every withheld read by reason: the
    store counted those it did not return, the rest are counted here.

    `truncated` says whether more *disclosable* reads matched than were returned, and is
    derived from disclosable reads alone: more than max_results of them were seen, or the
    row limit was filled with them. A row limit reached because of withheld reads never shows
    (README: truncation)."""
    withhold = decision.disclosure.withhold_reason
    limit = decision.max_results
    withheld = dict.fromkeys(WITHHELD, 0)
    withheld["retention"] = unfetched.retention
    withheld["sharing"] = unfetched.sharing
    by_owner: dict[str, int] = {}
    out: list[dict[str, Any]] = []
    disclosable = 0
    for read in reads:
        owner = read.agency_ori
        # Defence in depth: every rule again.
        reason = withhold(owner, read.observed_at, read.lat, read.lon)
        if reason is not None:
            withheld[reason] += 1
            continue
        disclosable += 1
        if disclosable > limit:
            continue
        by_owner[owner] = by_owner.get(owner, 0) + 1
        out.append(as_json(read))
    outcome = Outcome(
        matched=len(reads) + unfetched.retention + unfetched.sharing,
        returned=len(out),
        truncated=disclosable > limit or disclosable >= row_limit,
        withheld=withheld,
        disclosed_by_owner=by_owner,
        row_limit_reached=row_limit_reached,
    )
    return out, outcome


def as_json(read: Read) -> dict[str, Any]:
    """A read as the API returns it (SPEC §6: the owner is `agency`)."""
    return {
        "id": read.id,
        "plate": read.plate,
        "plate_state": read.plate_state,
        "observed_at": read.observed_at,
        "lat": read.lat,
        "lon": read.lon,
        "camera_id": read.camera_id,
        "agency": read.agency_ori,
    }
