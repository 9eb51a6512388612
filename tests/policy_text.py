"""TOML building blocks shared by the policy tests, so each test writes only what it varies."""

from __future__ import annotations

SETTINGS = """
[settings]
retention_days = 365
max_results = 100
justification_min_chars = 10
rate_limit_per_minute = 60
"""


def agency(ori: str, name: str, kind: str, state: str | None = None) -> str:
    lines = ["", "[[agencies]]", f'ori = "{ori}"', f'name = "{name}"', f'kind = "{kind}"']
    if state is not None:
        lines.append(f'state = "{state}"')
    return "\n".join(lines) + "\n"


OAKLAND = agency("CA0010900", "Oakland PD", "local", "CA")
SFPD = agency("CA0380100", "San Francisco PD", "local", "CA")
CHP = agency("CA0349400", "California Highway Patrol", "state", "CA")
RENO = agency("NV0160100", "Reno PD", "local", "NV")
FBI = agency("DOJFBI000", "FBI San Francisco", "federal")
