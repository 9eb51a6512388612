"""`alpr-proxy witness keygen` and `serve` as an operator runs them: real processes, real files,
add-checkpoint over HTTP, a restart, and one-line errors with exit 2."""

from __future__ import annotations

import os
import selectors
import signal
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.witness import c2sp_ref as ref
from tests.witness.conftest import ORIGIN, WITNESS_NAME, Log, submission

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "proxy", "witness", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip


@contextmanager
def serving(config: Path) -> Iterator[str]:
    """`witness serve` as a child process; yields its URL once it says it is listening."""
    with subprocess.Popen(
        [sys.executable, "-m", "proxy", "witness", "serve", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV,
    ) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        try:
            with selectors.DefaultSelector() as sel:  # a deadline, not a sleep: fail if it hangs
                sel.register(proc.stdout, selectors.EVENT_READ)
                assert sel.select(timeout=60), "witness serve printed nothing in 60 s"
            line = proc.stdout.readline()
            assert " listening on http://127.0.0.1:" in line, (line, proc.poll())
            yield line.split(" listening on ")[1].split()[0]
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        assert code == 0, proc.stderr.read()


def post(url: str, body: bytes) -> tuple[int, str, str]:
    assert url.startswith("http://127.0.0.1:")  # only ever the witness this test started
    request = urllib.request.Request(f"{url}/add-checkpoint", data=body, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def configure(tmp_path: Path, log: Log, *, name: str = WITNESS_NAME) -> tuple[Path, str]:
    result = run("keygen", "--name", name, "--out", str(tmp_path / "w.key"))
    assert result.returncode == 0, result.stderr
    config = tmp_path / "witness.toml"
    config.write_text(
        f'[witness]\nname = "{WITNESS_NAME}"\nsigning_key_file = "w.key"\n'
        'listen = "127.0.0.1:0"\nstate = "state/witness.db"\n\n'
        f'[[witness.logs]]\norigin = "{ORIGIN}"\nkeys = ["{log.key.vkey}"]\n'
    )
    (tmp_path / "state").mkdir()
    return config, result.stdout.strip()


def test_keygen_prints_the_vkey_and_keeps_the_key_private(tmp_path: Path):
    out = tmp_path / "w.key"
    result = run("keygen", "--name", WITNESS_NAME, "--out", str(out))
    assert result.returncode == 0, result.stderr
    vkey = result.stdout.strip()
    name, _, public, _ = ref.parse_vkey(vkey)  # checks the key ID too
    assert (name, ref.parse_vkey(vkey)[1], len(public)) == (WITNESS_NAME, 0x04, 32)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith(f"PRIVATE+KEY+{WITNESS_NAME}+")
    again = run("keygen", "--name", WITNESS_NAME, "--out", str(out))
    assert again.returncode == 2 and "refusing to overwrite" in again.stderr
    bad = run("keygen", "--name", "has space", "--out", str(tmp_path / "x.key"))
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1


def test_serve_cosigns_over_http_and_keeps_state_across_a_restart(tmp_path: Path, log: Log):
    config, vkey = configure(tmp_path, log)
    with serving(config) as url:
        status, _, text = post(url, submission(log, 0, 10))
        assert status == 200, text
        assert ref.verify_cosignature(log.body(10), text, vkey) > 0
        assert post(url, submission(log, 10, 30))[0] == 200
    with serving(config) as url:  # a new process on the same state file
        assert post(url, submission(log, 10, 40)) == (409, "text/x.tlog.size", "30\n")
        status, _, text = post(url, submission(log, 30, 40))
        assert status == 200 and ref.verify_cosignature(log.body(40), text, vkey) > 0


def one_line_exit_2(config: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "proxy", "witness", "serve", "--config", str(config)],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=ENV, check=False,
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stdout == ""  # never claims to listen
    return result.stderr


def test_serve_refuses_bad_configuration_in_one_line(tmp_path: Path, log: Log):
    config, _ = configure(tmp_path, log)
    good = config.read_text()
    cases = {
        "unknown": good.replace("[witness]\n", "[witness]\ntypo = 1\n"),
        "witness.name": good.replace(f'name = "{WITNESS_NAME}"', 'name = "other.example/w"'),
        "witness.listen": good.replace("127.0.0.1:0", "nowhere"),
        "witness.logs[0].keys": good.replace(log.key.vkey, "not+a+key"),
        "witness.logs": good.split("[[witness.logs]]")[0],
        "cannot read": good.replace("w.key", "missing.key"),
    }
    for expected, text in cases.items():
        config.write_text(text)
        assert expected in one_line_exit_2(config), expected
    config.write_text(good)
    with serving(config):  # the good configuration still serves
        pass


def test_serve_refuses_a_log_key_as_witness_key(tmp_path: Path, log: Log):
    config, _ = configure(tmp_path, log)
    (tmp_path / "w.key").unlink()
    from proxy.audit.note import generate_signer_key

    private, _ = generate_signer_key(WITNESS_NAME)
    (tmp_path / "w.key").write_text(private + "\n")
    assert "log-signing key" in one_line_exit_2(config)


def test_serve_fails_closed_on_a_corrupt_state_file(tmp_path: Path, log: Log):
    config, _ = configure(tmp_path, log)
    with serving(config) as url:
        assert post(url, submission(log, 0, 10))[0] == 200
    state = tmp_path / "state" / "witness.db"
    state.write_bytes(b"\x00" * state.stat().st_size)
    for extra in tmp_path.glob("state/witness.db-*"):
        extra.unlink()
    message = one_line_exit_2(config)
    assert str(state) in message and "refusing to run" in message
