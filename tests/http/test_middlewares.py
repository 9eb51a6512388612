"""Request ids: the shape of uuid4().hex, unique, unrelated from one to the next, and never
repeated by a forked child."""

from __future__ import annotations

import itertools
import os
import re

from proxy.http.middlewares import new_request_id


def test_request_ids_are_unique_32_hex_digits_without_visible_order():
    ids = [new_request_id() for _ in range(20_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert len(set(ids)) == len(ids)

    # Consecutive ids share no structure: a counter or timestamp would show as a common prefix.
    def shared_prefix(a: str, b: str) -> int:
        return next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a))

    common = [shared_prefix(a, b) for a, b in itertools.pairwise(ids)]
    assert sum(common) / len(common) < 0.2  # 1/15 expected for independent hex digits


def test_a_forked_child_draws_other_ids():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then leave without running pytest's teardown
        os.write(write, "".join(new_request_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 10_000).decode()
    os.close(read)
    os.waitpid(pid, 0)
    theirs = {child[i : i + 32] for i in range(0, len(child), 32)}
    ours = {new_request_id() for _ in range(100)}
    assert len(theirs) == 100 and not theirs & ours
