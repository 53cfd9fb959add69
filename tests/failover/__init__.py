"""Failover tests: packets, state machine, config, and network-namespace clusters."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `bench` is a top-level folder of the repo, not installed
    sys.path.insert(0, str(REPO))
