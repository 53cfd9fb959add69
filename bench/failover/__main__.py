"""`python -m bench.failover`: see bench/failover/outage.py."""

import sys

from bench.failover.outage import main

sys.exit(main())
