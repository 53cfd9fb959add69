"""`python -m fastlb`: the same as the `fastlb` command."""

from fastlb.cli import main

raise SystemExit(main())
