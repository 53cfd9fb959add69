"""MySQL read/write splitting in Python: the statement classifier, the topology monitor and
the in-process `Router` for asyncio services.

    from fastlb.mysql import Router

    async with Router(primary="127.0.0.1:3307", replicas=["127.0.0.1:3308"],
                      user="app", password="...", db="shop") as router:
        await router.execute("INSERT INTO orders (item) VALUES (%s)", ("book",))
        rows = await router.fetchall("SELECT * FROM orders")   # a replica, after the write
"""

from __future__ import annotations

from .classify import StatementClass, classify

__all__ = ["StatementClass", "classify"]
