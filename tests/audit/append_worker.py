"""Run as a separate process by test_writer: append N entries through its own AuditWriter."""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import orjson

from proxy.audit.canonical import Record
from proxy.audit.writer import AuditWriter


async def main(dsn: str, name: str, count: int) -> None:
    async with asyncpg.create_pool(dsn, min_size=1, max_size=2) as pool:
        writer = AuditWriter(pool, max_batch=50)
        await writer.start()

        async def one(i: int) -> int:
            body = orjson.dumps({"event": "test", "writer": name, "i": i})
            return await writer.append(Record(body))

        indexes = await asyncio.gather(*(one(i) for i in range(count)))
        await writer.close()
    print(orjson.dumps(indexes).decode())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
