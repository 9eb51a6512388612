"""`alpr-proxy witness keygen` and `alpr-proxy witness serve` (SPEC §10).

Every error is one line on stderr and exit 2; nothing is served until the key, the
configuration and the state file have all been checked and the port is bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import stat
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the parser is built for every command; the rest loads when it runs
    from aiohttp import web

    from proxy.witness.config import WitnessConfig
    from proxy.witness.signer import WitnessSigner

_PROG = "alpr-proxy witness"
_log = logging.getLogger("alpr_proxy.witness")


def add_witness_parser(add_parser: Callable[..., argparse.ArgumentParser]) -> None:
    p = add_parser("witness", help="run a C2SP tlog-witness for someone else's audit log")
    wsub = p.add_subparsers(dest="witness_command", required=True)
    k = wsub.add_parser("keygen", help="make an Ed25519 witness key; print its vkey (type 0x04)")
    k.add_argument("--name", required=True, help="the witness name, e.g. oversight.example/w")
    k.add_argument("--out", required=True, help="file to write the private key to (mode 0600)")
    s = wsub.add_parser("serve", help="serve POST /add-checkpoint (c2sp.org/tlog-witness)")
    s.add_argument("--config", required=True)


def run_witness(args: argparse.Namespace) -> int:
    if args.witness_command == "keygen":
        return keygen(args.name, args.out)
    return serve(args.config)


def _error(message: str) -> int:
    print(f"{_PROG}: {message}", file=sys.stderr)
    return 2


def keygen(name: str, out: str) -> int:
    from proxy.witness.signer import WitnessKeyError, WitnessSigner

    try:
        signer = WitnessSigner.generate(name)
    except WitnessKeyError as exc:
        return _error(str(exc))
    try:  # never overwrite a key: a lost witness key cannot be recovered
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(signer.private_key_string() + "\n")
    except FileExistsError:
        return _error(f"{out} exists; refusing to overwrite a key")
    except OSError as exc:
        return _error(f"cannot write {out}: {exc.strerror}")
    print(signer.vkey)
    return 0


def load_signer(config: WitnessConfig) -> WitnessSigner:
    from proxy.witness.signer import WitnessKeyError, WitnessSigner

    path = config.signing_key_file
    try:
        text = path.read_text(encoding="ascii")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessKeyError(f"witness.signing_key_file {path}: cannot read ({exc})") from None
    try:
        signer = WitnessSigner.from_private_key(text)
    except WitnessKeyError as exc:
        raise WitnessKeyError(f"witness.signing_key_file {path}: {exc}") from None
    if signer.name != config.name:
        raise WitnessKeyError(
            f"witness.name is {config.name!r} but the key in {path} is named {signer.name!r}"
        )
    logs = [
        o for o, ks in config.log_keys.items() if any(k.public_key == signer.public_key for k in ks)
    ]
    if logs:  # one key must never speak for both the log and its witness
        raise WitnessKeyError(f"the witness key is also a log key of {logs[0]!r}")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        _log.warning("witness key %s is readable by others (mode %o)", path, mode & 0o777)
    return signer


def serve(config_file: str) -> int:
    import asyncio

    from proxy.witness.config import WitnessConfigError, load_witness_config
    from proxy.witness.signer import WitnessKeyError

    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    try:
        config = load_witness_config(config_file)
        signer = load_signer(config)
    except (WitnessConfigError, WitnessKeyError) as exc:
        return _error(str(exc))
    try:
        return asyncio.run(_serve(config, signer))
    except KeyboardInterrupt:
        return 130


async def _serve(config: WitnessConfig, signer: WitnessSigner) -> int:
    import asyncio

    from aiohttp import web

    from proxy.witness.server import create_app
    from proxy.witness.state import StateError

    runner = web.AppRunner(create_app(config, signer), access_log=None)
    try:
        await runner.setup()  # opens and checks the state file (cleanup_ctx)
    except StateError as exc:
        return _error(str(exc))
    try:
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            return _error(f"cannot listen on {config.host}:{config.port}: {exc.strerror}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        host, port = _bound(runner)
        # One line on stdout, once the port accepts connections (tests and scripts wait for it).
        print(f"witness {signer.name} listening on http://{host}:{port} vkey {signer.vkey}")
        sys.stdout.flush()
        _log.info("state %s; logs: %s", config.state, ", ".join(sorted(config.log_keys)))
        await stop.wait()
        return 0
    finally:
        await runner.cleanup()


def _bound(runner: web.AppRunner) -> tuple[str, int]:
    for address in runner.addresses:  # the real port, also when listen asks for port 0
        host, port = address[0], address[1]
        return (f"[{host}]" if ":" in host else host), int(port)
    raise RuntimeError("the witness is not listening")
