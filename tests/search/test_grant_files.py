"""grants_dir is read afresh at each load: only <ORI>.grant and <ORI>.keys, and what cannot be
read is left out (that owner then has no grant in force) without stopping the load."""

from __future__ import annotations

from pathlib import Path

from proxy.search.grant_files import MAX_FILE_BYTES, GrantFiles


def test_only_grant_and_key_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "CA0011000.grant").write_bytes(b"g")
    (tmp_path / "CA0011000.keys").write_bytes(b"k")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "ca0011000.grant").write_bytes(b"lower case is not an ORI")
    (tmp_path / "CA0010900.grant").write_bytes(b"x" * (MAX_FILE_BYTES + 1))
    files = GrantFiles(tmp_path, "o").read()
    assert files == {"CA0011000.grant": b"g", "CA0011000.keys": b"k"}


def test_no_directory_means_no_grants(tmp_path: Path) -> None:
    assert GrantFiles(None, "o").read() == {}
    assert GrantFiles(tmp_path / "absent", "o").read() == {}
