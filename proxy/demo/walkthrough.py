"""The curl walk-through: what `alpr-proxy demo` prints, and the README's "A curl walk-through".

One source for both (tests/demo/test_walkthrough.py checks the README against `commands()` and
runs every command against a live demo). Nothing in it is dated or secret: the demo writes
DIR/demo.env (tokens, the search window, the verifier key's file), which the first command
sources, so the same text works on any day.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path

from proxy.demo import policy as demo
from proxy.demo.city import OAKLAND_PD

DEFAULT_ENV = "~/.alpr-proxy-demo/demo.env"
WARRANT = "Locate vehicle of subject with an administrative warrant"
# "ICE" in Cyrillic letters that look Latin: what the red team used to slip past a plain match.
LOOK_ALIKE = "Witness vehicle; coordinate with \u0406\u0421\u0415 on detainer request"
_INDEX = 'import json; print(json.load(open("answer3.json"))["audit_index"])'
_REFUSED = 'import json; print(json.load(open("answer10.json"))["error"]["audit_index"])'
AREA_JUSTIFICATION = "Canvass of cars near the 1/14 homicide scene at the time of the shooting"
GRANT_OWNER = OAKLAND_PD
ENV_FILE = "demo.env"


def env_file_text(values: Mapping[str, str]) -> str:
    """DIR/demo.env: `export` lines the walk-through sources (written mode 0600: it holds
    tokens)."""
    lines = ["# Written by `alpr-proxy demo` on every run; source it: . DIR/demo.env"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def _body(purpose: str, justification: str, on_behalf_of: dict[str, str] | None = None) -> str:
    fields: dict[str, object] = {
        "type": "plate",
        "plate": demo.DEMO_PLATE,
        "from": "$FROM",
        "to": "$TO",
        "purpose": purpose,
        "case_number": demo.DEMO_CASE_NUMBER,
        "justification": justification,
    }
    if on_behalf_of:
        fields["on_behalf_of"] = on_behalf_of
    return json.dumps(fields, separators=(",", ":"))


def _area_body(approval: str | None = None) -> str:
    fields: dict[str, object] = {
        "type": "area",
        "area": {"lat": "$AREA_LAT", "lon": "$AREA_LON", "radius_m": 150},
        "from": "$AREA_FROM",
        "to": "$AREA_TO",
        "purpose": demo.DEMO_PURPOSE,
        "case_number": demo.DEMO_CASE_NUMBER,
        "justification": AREA_JUSTIFICATION,
    }
    if approval:
        fields["approval"] = approval
    text = json.dumps(fields, separators=(",", ":"))
    # Numbers, not strings, once the here-document expands them.
    for name in ("$AREA_LAT", "$AREA_LON", "$N"):
        text = text.replace(f'"{name}"', name)
    return text


def _search(n: int | str, body: str) -> str:
    # An unquoted here-document: $FROM and $TO expand, nothing else in the body can.
    return (
        f'curl -s -X POST "$ALPR/v1/search" -H "Authorization: Bearer $INVESTIGATOR" \\\n'
        f"  -H 'Content-Type: application/json' -o answer{n}.json -w 'HTTP %{{http_code}}\\n' \\\n"
        f"  --data-binary @- <<EOF\n{body}\nEOF\n"
        f"cat answer{n}.json; echo\n"
    )


_VERIFY = """python3 - <<'PY'
import os
from proxy.audit import verify  # one file, stdlib + cryptography: copy it anywhere
vkey = open(os.environ["VKEY_FILE"]).read().strip()
cp = verify.verify_checkpoint(open("checkpoint.txt", "rb").read(), vkey)
proof = verify.parse_inclusion_proof(open("proof.json").read())
leaf = verify.hash_leaf(open("entry.json", "rb").read())
verify.verify_inclusion(leaf, proof.index, proof.size, proof.hashes, cp.root_hash)  # or raises
print("verified: entry", proof.index, "is in the log of", cp.size, "entries signed by", cp.origin)
PY
"""


def _grant_and_approval_steps() -> list[str]:
    """Steps 9-11: an owner's signed grant, one approval round trip, GET /v1/me."""
    return [
        "# 9. Oakland PD and Piedmont PD sign their own sharing rules: only a grant signed with\n"
        "#    the owner's key decides who receives its reads, naming each recipient by ORI. The\n"
        "#    demo made their keys and signed for them; anyone can check a grant:\n"
        f'alpr-proxy grant check --policy "$POLICY" --config "$CONFIG" '
        f'"$GRANTS/{GRANT_OWNER}.grant"\n',
        "# 10. Two people for an area search: sent alone, HTTP 403 approval_required, and its\n"
        "#     audit_index names the request. Oakland's supervisor lists the pending requests\n"
        '#     and approves it; the investigator re-sends the same search with "approval": N.\n'
        + _search(10, _area_body())
        + f"N=$(python3 -c {shlex.quote(_REFUSED)})\n"
        'curl -s -H "Authorization: Bearer $SUPERVISOR" "$ALPR/v1/approvals?status=pending"; echo\n'
        'curl -s -X POST "$ALPR/v1/approvals" -H "Authorization: Bearer $SUPERVISOR" \\\n'
        "  -H 'Content-Type: application/json' -w '\\nHTTP %{http_code}\\n' \\\n"
        '  --data-binary "{\\"index\\":$N,\\"decision\\":\\"approve\\",'
        '\\"note\\":\\"Scene canvass, 4 h around the shooting\\"}"\n'
        + _search(11, _area_body("$N")),
        "# 11. What the investigator may do: GET /v1/me lists the purposes this user may use,\n"
        "#     which need an approval first, and which are exigent (run at once, reviewed later).\n"
        'curl -s -H "Authorization: Bearer $INVESTIGATOR" "$ALPR/v1/me"; echo\n',
    ]


def commands(env_file: str = DEFAULT_ENV) -> str:
    """The walk-through as one shell script, comments included."""
    immigration = {"ori": demo.IMMIGRATION_ORI, "person": "SDDO J. Doe"}
    steps = [
        f"# 0. Load the demo's tokens and search window, and work in a scratch directory.\n"
        f". {env_file}   # ALPR, METRICS, tokens, FROM, TO, VKEY_FILE, WITNESS1, ...\n"
        'cd "$(mktemp -d)"\n',
        "# 1. An allowed search by an Oakland PD homicide investigator: HTTP 200, the reads the\n"
        "#    policy lets this agency see, and `audit_index`, the entry that recorded it.\n"
        + _search(1, _body(demo.DEMO_PURPOSE, demo.DEMO_JUSTIFICATION)),
        "# 2. A prohibited purpose: HTTP 403 purpose_prohibited. The refusal is itself an entry.\n"
        + _search(2, _body("CIVIL_IMMIGRATION", WARRANT)),
        "# 3. The homicide search run on behalf of an immigration-enforcement office: HTTP 200\n"
        "#    with no reads: every read needs every recipient admitted, and no owner admits it.\n"
        + _search(3, _body(demo.DEMO_PURPOSE, demo.DEMO_JUSTIFICATION, immigration)),
        "# 4. What the log recorded for search 3 (Oakland's auditor, or oversight): the decision,\n"
        "#    the on_behalf_of office, and how many reads were withheld and why.\n"
        f"INDEX=$(python3 -c {shlex.quote(_INDEX)})\n"
        'curl -s -H "Authorization: Bearer $AUDITOR" "$ALPR/v1/log/entries/$INDEX" -o entry.json\n'
        "cat entry.json; echo\n",
        "# 5. Prove that entry is in the signed, append-only log. A checkpoint is signed every\n"
        "#    2 s; wait for one that covers it, fetch the inclusion proof, verify both.\n"
        'until curl -s "$ALPR/v1/log/checkpoint" -o checkpoint.txt &&\n'
        '  [ "$(sed -n 2p checkpoint.txt)" -gt "$INDEX" ] 2>/dev/null; do sleep 1; done\n'
        "cat checkpoint.txt\n"
        'curl -s "$ALPR/v1/log/proof/inclusion?index=$INDEX&size=$(sed -n 2p checkpoint.txt)" \\\n'
        "  -o proof.json\n" + _VERIFY,
        '# 6. "ICE" spelled with Cyrillic look-alike letters (U+0406 U+0421 U+0415): the screen\n'
        "#    compares look-alike skeletons (Unicode TS #39), so HTTP 403 justification_flagged.\n"
        + _search(6, _body(demo.DEMO_PURPOSE, LOOK_ALIKE)),
        "# 7. Metrics live on their own loopback listener; the API port answers 404 for them, and\n"
        "#    no metric counts withheld reads (two scrapes around one search would tell).\n"
        "curl -s -o /dev/null -w 'API port /metrics: HTTP %{http_code}\\n' \"$ALPR/metrics\"\n"
        "curl -s \"$METRICS/metrics\" | grep '^alpr_proxy_searches_total'\n",
        "# 8. Verify the whole log over HTTP as oversight would, without database credentials:\n"
        "#    every entry, the log's signature, and the cosignatures of both witnesses (the\n"
        "#    state's oversight office and a civil-liberties board). Exit 0 only if all holds.\n"
        'alpr-proxy audit verify --url "$ALPR" --token "$OVERSIGHT" '
        '--key "$(cat "$VKEY_FILE")" \\\n'
        '  --witness "$WITNESS1" --witness "$WITNESS2" --quorum 2\n',
        *_grant_and_approval_steps(),
    ]
    return "\n".join(steps)


def env_path_for(data_dir: Path) -> str:
    """How the printout names DIR/demo.env: as in the README for the default directory."""
    default = Path.home() / ".alpr-proxy-demo"
    if data_dir == default.resolve():
        return DEFAULT_ENV
    return shlex.quote(str(data_dir / ENV_FILE))
