"""A small policy with one owner that signs its grants, grant texts, and keys to sign them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from proxy.grants import Effective, OwnerRecord, apply_grants
from proxy.policy import Policy, admits, parse_policy
from tests.grants.note_ref import RefKey
from tests.policy_text import CHP, FBI, OAKLAND, SETTINGS, agency

ORIGIN = "example.org/alpr-proxy/audit"
UNION = "CA0011000"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
ISSUED = NOW - timedelta(days=1)
PURPOSES = '\n[[purposes]]\ncode = "HOMICIDE"\nmax_lookback_days = 365\n'
ICE = agency("CA0389999", "ICE ERO", "federal", "CA") + "immigration_enforcement = true\n"
# The operator's own rule for Union City: what it would share without keys.
OPERATOR_RULE = f"""
[[sharing]]
owner = "{UNION}"
to_kinds = ["local", "state", "federal"]
purposes = ["*"]
"""


def policy_text(keys: list[RefKey], quorum: int | None = None, operator_rule: bool = True) -> str:
    union = agency(UNION, "Union City PD", "local", "CA")
    if keys:
        union += "grant_keys = [" + ", ".join(f'"{k.vkey}"' for k in keys) + "]\n"
    if quorum is not None:
        union += f"grant_quorum = {quorum}\n"
    text = SETTINGS + union + OAKLAND + CHP + FBI + ICE + PURPOSES
    return text + (OPERATOR_RULE if operator_rule else "")


def make_policy(keys: list[RefKey], quorum: int | None = None) -> Policy:
    return parse_policy(policy_text(keys, quorum).encode())


def grant_text(
    *,
    owner: str = UNION,
    deployment: str = ORIGIN,
    issued: datetime = ISSUED,
    expires: datetime | None = None,
    to: str = '"CA0010900"',
    extra: str = "",
) -> str:
    expires = expires or issued + timedelta(days=180)
    return (
        f'owner = "{owner}"\ndeployment = "{deployment}"\n'
        f"issued = {issued.isoformat()}\nexpires = {expires.isoformat()}\n{extra}"
        f'\n[[sharing]]\nto_agencies = [{to}]\npurposes = ["*"]\n'
    )


def keys_text(next_keys: list[RefKey], quorum: int, issued: datetime = ISSUED) -> str:
    vkeys = ", ".join(f'"{k.vkey}"' for k in next_keys)
    return (
        f'owner = "{UNION}"\ndeployment = "{ORIGIN}"\nissued = {issued.isoformat()}\n'
        f"next_keys = [{vkeys}]\nnext_quorum = {quorum}\n"
    )


def effective(
    policy: Policy,
    files: dict[str, bytes],
    record: dict[str, OwnerRecord] | None = None,
    now: datetime = NOW,
) -> Effective:
    return apply_grants(policy, files, record or {}, ORIGIN, now)


def shares_with(eff: Effective, ori: str, owner: str = UNION) -> bool:
    """Whether the effective policy lets ``ori`` see ``owner``'s reads for HOMICIDE today."""
    return admits(eff.policy, owner, ori, "HOMICIDE", NOW.date()) is not None
