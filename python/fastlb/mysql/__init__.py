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
from .connections import ExecuteResult
from .monitor import DecisionCallback, TopologyMonitor
from .router import Router, Session
from .topology import ServerDecision, ServerObservation, ServerSpec, TopologyDecision, decide

__all__ = [
    "DecisionCallback",
    "ExecuteResult",
    "Router",
    "ServerDecision",
    "ServerObservation",
    "ServerSpec",
    "Session",
    "StatementClass",
    "TopologyDecision",
    "TopologyMonitor",
    "classify",
    "decide",
]
