"""A/B benchmark of fastlb against stock HAProxy 2.6 (`make bench`, `python -m bench`).

Modules: `configs` renders the nginx / HAProxy / fastlb configs (mode tcp and mode http),
`topology` starts and stops the processes (one per load balancer and thread count), `probes`
checks each frontend before timing (XFF, server connection reuse, ALPN h2), `wrk` and `h2load`
run the clients and parse their output into a `result.LoadResult`, `scenarios` names what is
measured, `report` turns the rounds into medians, ratios and BENCHMARKS.md, `runner`
alternates A/B at each thread count.
"""
