"""The demo's example searches, run against its own live server: each search, what came back,
its audit entry, and the last entry proved to be in the signed log with the standalone
verifier; then the README's curl walk-through, with the tokens it needs in an env file."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from proxy.audit import verify
from proxy.auth.tokens import mint_token
from proxy.cli.credentials import write_private
from proxy.demo import policy as demo
from proxy.demo import walkthrough
from proxy.demo.area import AreaExample, area_example
from proxy.search.live_policy import load_policy_file
from proxy.settings import Settings


def _tokens(settings: Settings) -> dict[str, str]:
    key = Path(settings.auth.dev_private_key_file).read_bytes()
    out = {}
    for label, user in (
        ("INVESTIGATOR", demo.DEMO_INVESTIGATOR),
        ("SUPERVISOR", demo.DEMO_SUPERVISOR),
        ("AUDITOR", demo.DEMO_AUDITOR),
        ("OVERSIGHT", demo.DEMO_OVERSIGHT),
    ):
        out[label] = mint_token(
            key,
            issuer=settings.auth.issuer,
            audience=settings.auth.audience,
            sub=user.sub,
            ori=user.ori,
            roles=list(user.roles),
            ttl_s=8 * 3600,
        )
    return out


def _window(settings: Settings, now: datetime) -> tuple[str, str]:
    """The example searches' from/to: as far back as the purpose allows, through tomorrow."""
    lookback = load_policy_file(settings.policy.file).purposes[demo.DEMO_PURPOSE].max_lookback_days
    return (
        (now - timedelta(days=lookback - 1)).strftime("%Y-%m-%dT00:00:00Z"),
        (now + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
    )


def _examples(window: tuple[str, str]) -> list[tuple[str, dict[str, Any]]]:
    base = {
        "type": "plate",
        "plate": demo.DEMO_PLATE,
        "from": window[0],
        "to": window[1],
        "purpose": demo.DEMO_PURPOSE,
        "case_number": demo.DEMO_CASE_NUMBER,
        "justification": demo.DEMO_JUSTIFICATION,
    }
    return [
        ("An allowed search (Oakland PD homicide investigator)", base),
        (
            "A search refused for a prohibited purpose",
            {
                **base,
                "purpose": "CIVIL_IMMIGRATION",
                "justification": "Locate vehicle of subject with an administrative warrant",
            },
        ),
        (
            "The same search run on behalf of an immigration-enforcement office",
            {**base, "on_behalf_of": {"ori": demo.IMMIGRATION_ORI, "person": "SDDO J. Doe"}},
        ),
        (
            'A justification hiding "ICE" in Cyrillic look-alike letters',
            {**base, "justification": walkthrough.LOOK_ALIKE},
        ),
    ]


def _write_env(
    data_dir: Path,
    settings: Settings,
    tokens: dict[str, str],
    window: tuple[str, str],
    area: AreaExample,
) -> None:
    vkey_file = data_dir / "log-verifier.key"
    metrics_host, metrics_port = settings.metrics.address
    values = {
        "ALPR": f"http://{settings.server.host}:{settings.server.port}",
        "METRICS": f"http://{metrics_host}:{metrics_port}",
        **tokens,
        "FROM": window[0],
        "TO": window[1],
        **area.env(),
        # For `alpr-proxy grant check`: the policy with the owners' keys, this deployment.
        "POLICY": str(Path(settings.policy.file).resolve()),
        "CONFIG": str(data_dir / "alpr-proxy.toml"),
        "GRANTS": str(Path(settings.policy.grants_dir).resolve()),
    }
    values["VKEY_FILE"] = str(vkey_file)
    for i, witness in enumerate(settings.log.witnesses, 1):  # their vkeys, for `audit verify`
        values[f"WITNESS{i}"] = witness.key
    write_private(data_dir / walkthrough.ENV_FILE, walkthrough.env_file_text(values))


async def run_examples(settings: Settings, base_url: str, now: datetime, data_dir: Path) -> None:
    tokens = _tokens(settings)
    window = _window(settings, now)
    area = await area_example(settings.database.store_dsn)
    _write_env(data_dir, settings, tokens, window, area)
    async with aiohttp.ClientSession() as http:
        for title, body in _examples(window):
            print(f"\n## {title}")
            async with http.post(
                f"{base_url}/v1/search",
                json=body,
                headers={"Authorization": f"Bearer {tokens['INVESTIGATOR']}"},
            ) as r:
                result = await r.json()
            if r.status == 200:
                reads = result["reads"]
                print(
                    f"-> {r.status}: {len(reads)} reads returned, audit_index "
                    f"{result['audit_index']}, truncated={result['truncated']}"
                )
                for read in reads[:3]:
                    print(f"   {orjson.dumps(read).decode()}")
                index = result["audit_index"]
            else:
                print(f"-> {r.status}: {orjson.dumps(result).decode()}")
                index = result["error"]["audit_index"]
            async with http.get(
                f"{base_url}/v1/log/entries/{index}",
                headers={"Authorization": f"Bearer {tokens['OVERSIGHT']}"},
            ) as r:
                entry = await r.read()
                print(f"# its audit entry {index}:\n-> {entry.decode()}")
        await _prove_included(http, base_url, index, entry, settings)
    env = walkthrough.env_path_for(data_dir)
    print(f"\n# Now by hand: the README's curl walk-through. {env} holds the tokens (8 h).\n")
    print(walkthrough.commands(env), end="")


async def _prove_included(
    http: aiohttp.ClientSession, base_url: str, index: int, entry: bytes, settings: Settings
) -> None:
    """Show that the last entry is in a signed checkpoint, checked by the standalone verifier."""
    vkey = (Path(settings.log.signing_key_file).parent / "log-verifier.key").read_text().strip()
    print("\n## Prove that entry is in the signed, append-only log")
    print(f"# verifier key (give this to oversight, out of band): {vkey}")
    for _ in range(150):  # a checkpoint follows within checkpoint_interval_s (30 s at most)
        async with http.get(f"{base_url}/v1/log/checkpoint") as r:
            note = await r.read()
        if r.status == 200:
            checkpoint = verify.verify_checkpoint(note, vkey, origin=settings.log.origin)
            if checkpoint.size > index:
                break
        await asyncio.sleep(0.2)
    else:
        print("-> no checkpoint covering the entry yet; try again in a few seconds")
        return
    print(f"-> {note.decode()}", end="")
    query = f"index={index}&size={checkpoint.size}"
    async with http.get(f"{base_url}/v1/log/proof/inclusion?{query}") as r:
        proof = verify.parse_inclusion_proof(await r.read())
    verify.verify_inclusion(
        verify.hash_leaf(entry), index, checkpoint.size, proof.hashes, checkpoint.root_hash
    )
    print(
        f"-> verified with proxy/audit/verify.py: entry {index} is included in the log of "
        f"{checkpoint.size} entries signed by {vkey.split('+')[0]}"
    )
