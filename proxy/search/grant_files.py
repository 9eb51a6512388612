"""The grants directory (SPEC §11, ``policy.grants_dir``): each owner's ``<ORI>.grant`` and,
for a key change, ``<ORI>.keys``, read afresh at every load. What cannot be read is left out and
logged, so that owner has no grant in force (deny by default) and the load goes on."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("alpr_proxy.policy")
_NAME = re.compile(r"[A-Z0-9]{9}\.(grant|keys)")
MAX_FILE_BYTES = 1 << 20  # a grant is a page of TOML; anything larger is not one


@dataclass(frozen=True, slots=True)
class GrantFiles:
    directory: Path | None  # None: no grants_dir configured
    origin: str  # this deployment: the log origin a grant must name

    def read(self) -> dict[str, bytes]:
        """File name -> bytes, for the names of grant and key-change files."""
        if self.directory is None:
            return {}
        try:
            paths = [p for p in self.directory.iterdir() if _NAME.fullmatch(p.name)]
        except OSError as exc:
            log.error("grants_dir unreadable, no grant is in force: %s", exc)
            return {}
        files: dict[str, bytes] = {}
        for path in sorted(paths):
            try:
                with path.open("rb") as f:
                    data = f.read(MAX_FILE_BYTES + 1)
            except OSError as exc:
                log.error("grant file unreadable, left out: %s", exc)
                continue
            if len(data) > MAX_FILE_BYTES:
                log.error("grant file %s is over %d bytes, left out", path, MAX_FILE_BYTES)
                continue
            files[path.name] = data
        return files
