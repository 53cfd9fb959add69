"""fastlb's performance tree: A/B benchmarks and load tests against HAProxy, and what they share.

The shared core: `ab` (A B A B order over rounds, medians, ratios, the ratio-vs-target
verdict), `result.LoadResult` (what one client run measured, whatever the client), `procstat`
(CPU of processes and of the machine from /proc), `machine` (the report's context: hardware,
commit, tool versions), `configs` and `topology` (nginx backends, HAProxy and fastlb side by
side), `probes` (each frontend checked before timing). `drivers/` runs the load generators:
wrk, h2load, Locust, sysbench.

What uses it: `runner` and `report` with `scenarios` (`python -m bench`: wrk/h2load throughput,
BENCHMARKS.md), `locust/` (`python -m bench.locust`: the Locust load test), `mysql*.py`
(sysbench and MySQL failover), `failover/`, `scaleout/`, `soak/`, `http_stack/`, and `micro/`
(pytest-benchmark micro-benchmarks of the native core).
"""
