"""MySQL primary switchover, failover, fencing and rejoin (MariaDB GTID replication).

One concern per module:

- `events.py`: the bounded event log and the counters behind /api/stats and /metrics;
- `detection.py`: pure policy: is the primary dead (for fastlb *and* for the replicas), which
  replica to promote, has a returning old primary diverged;
- `admin.py`: the SQL each step runs on a server (read_only, kill, wait, promote, re-point);
- `controller.py`: one backend's orchestration: switchover, failover, fencing and rejoin,
  driven by the topology monitor's rounds.
"""

from __future__ import annotations

from .controller import FailoverController, SwitchoverError
from .events import EventLog

__all__ = ["EventLog", "FailoverController", "SwitchoverError"]
