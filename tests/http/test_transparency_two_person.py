"""The public index lists which purposes need two people and which are exigent (SPEC §12),
derived from the policy in force."""

from __future__ import annotations

from typing import Any

from tests.http.approval_helpers import POLICY
from tests.http.conftest import MakeClient
from tests.http.test_transparency import get_page


async def test_the_index_lists_approvals_and_exigent_purposes(make_client: MakeClient) -> None:
    client: Any = await make_client(policy_toml=POLICY)
    page = await get_page(client, "/transparency")
    rows = {r[0]: r[1:] for r in page.tables["purposes-table"]}
    # Every permitted purpose, in the policy's order; the prohibited one is not offered.
    assert list(rows) == ["HOMICIDE", "ROBBERY", "AMBER_ALERT", "CANVASS", "KIDNAPPING"]
    assert rows["KIDNAPPING"][1] == (
        "a partial-plate search; an area search; a federal agency receives the results;"
        " an agency outside CA receives the results"
    )
    assert rows["KIDNAPPING"][2] == "No"
    assert rows["AMBER_ALERT"][1:] == ["never", "Yes: runs at once, reviewed afterwards"]
    assert rows["HOMICIDE"][1:] == ["never", "No"]
    caption = page.text("purposes-table")
    assert "valid 24 hours" in caption and "within 72 hours" in caption
