"""The demo's owners sign their own grants: keys made once, grants in force under the demo
policy, and a restart that keeps them (no rollback) unless one no longer holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from proxy.cli.demo import ORIGIN
from proxy.demo.city import OAKLAND_PD, PIEDMONT_PD
from proxy.demo.grants import GRANT_OWNERS, RENEW_DAYS, issue_grants, owner_keys, vkeys
from proxy.demo.policy import IMMIGRATION_ORI, demo_policy_toml
from proxy.grants import apply_grants
from proxy.grants.record import LastGrant, OwnerRecord
from proxy.oversight.transparency import recipients
from proxy.policy.document import parse_policy

NOW = datetime(2026, 3, 15, 19, 30, tzinfo=UTC)


def prepared(tmp_path: Path, now: datetime = NOW) -> tuple[str, dict[str, bytes]]:
    keys = owner_keys(tmp_path)
    text = demo_policy_toml(now, vkeys(keys))
    issue_grants(tmp_path, text, keys, ORIGIN, now)
    files = {p.name: p.read_bytes() for p in (tmp_path / "grants").iterdir()}
    return text, files


def test_keys_are_owner_only_and_reused(tmp_path: Path) -> None:
    first = owner_keys(tmp_path)
    assert set(first) == set(GRANT_OWNERS) == {OAKLAND_PD, PIEDMONT_PD}
    for key in first.values():
        assert key.key_file.stat().st_mode & 0o077 == 0
        assert key.vkey.startswith(GRANT_OWNERS[key.ori] + "+")
    assert owner_keys(tmp_path) == first


def test_two_owners_grants_are_in_force_under_the_demo_policy(tmp_path: Path) -> None:
    text, files = prepared(tmp_path)
    policy = parse_policy(text.encode())
    assert {o for o, a in policy.agencies.items() if a.grant_keys} == set(GRANT_OWNERS)
    assert not any(r.owner in GRANT_OWNERS for r in policy.sharing)  # no operator rules
    effective = apply_grants(policy, files, {}, ORIGIN, NOW + timedelta(minutes=1))
    for owner in GRANT_OWNERS:
        status = effective.statuses[owner]
        assert status.reason is None and status.in_force is not None, status
        # What the operator's rule shared before: California public agencies, never ICE.
        shared = {r.agency.ori for r in recipients(effective.policy, owner, NOW.date())}
        assert IMMIGRATION_ORI not in shared and len(shared) >= 5
        assert {policy.agencies[o].kind for o in shared} <= {"local", "state", "tribal"}


def test_a_restart_keeps_the_grant_in_force(tmp_path: Path) -> None:
    text, files = prepared(tmp_path)
    later = NOW + timedelta(days=3)
    again = issue_grants(tmp_path, text, owner_keys(tmp_path), ORIGIN, later)
    assert not any(g.issued_now for g in again)
    assert {p.name: p.read_bytes() for p in (tmp_path / "grants").iterdir()} == files
    # The log recorded the first grants as the last in force: no rollback on this restart.
    effective = apply_grants(parse_policy(text.encode()), files, {}, ORIGIN, later)
    record = {
        o: OwnerRecord(
            s.record.keys,
            s.record.quorum,
            LastGrant(s.in_force.issued, s.in_force.sha256) if s.in_force else None,
            None,
        )
        for o, s in effective.statuses.items()
    }
    after = apply_grants(parse_policy(text.encode()), files, record, ORIGIN, later)
    assert all(s.reason is None for s in after.statuses.values())


def test_an_altered_grant_is_signed_again(tmp_path: Path) -> None:
    text, files = prepared(tmp_path)
    oakland = tmp_path / "grants" / f"{OAKLAND_PD}.grant"
    oakland.write_bytes(files[oakland.name].replace(b"CA0380100", b"CA0380101"))
    later = NOW + timedelta(days=1)
    again = issue_grants(tmp_path, text, owner_keys(tmp_path), ORIGIN, later)
    assert {g.ori: g.issued_now for g in again} == {OAKLAND_PD: True, PIEDMONT_PD: False}
    assert oakland.read_bytes() != files[oakland.name] and b"CA0380101" not in oakland.read_bytes()


def test_a_grant_near_its_expiry_is_signed_again_and_newer(tmp_path: Path) -> None:
    text, _ = prepared(tmp_path)
    late = NOW + timedelta(days=365 - RENEW_DAYS + 1)
    again = issue_grants(tmp_path, text, owner_keys(tmp_path), ORIGIN, late)
    assert all(g.issued_now for g in again)
    new = {p.name: p.read_bytes() for p in (tmp_path / "grants").iterdir()}
    status = apply_grants(parse_policy(text.encode()), new, {}, ORIGIN, late).statuses
    assert all(s.in_force is not None and s.in_force.issued > NOW for s in status.values())
