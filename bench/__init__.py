"""A/B benchmark of fastlb against stock HAProxy 2.6 (`make bench`, `python -m bench`).

Modules: `configs` renders the nginx / HAProxy / fastlb configs, `topology` starts and stops
the processes, `wrk` runs wrk and parses its output, `scenarios` names what is measured,
`report` turns the rounds into medians, ratios and BENCHMARKS.md, `runner` alternates A/B.
"""
