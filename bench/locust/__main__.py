"""`python -m bench.locust`: see bench/locust/runner.py."""

import sys

from bench.locust.runner import main

sys.exit(main())
