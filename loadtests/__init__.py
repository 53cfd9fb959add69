"""Locust load tests of fastlb against stock HAProxy 2.6 (`make loadtest`, `python -m loadtests`).

Modules: `locustfile` holds the Locust user classes, `scenarios` says which class runs with how
many users, `locust_run` runs Locust once and reads its stats, `procstat` samples CPU from
/proc, `results_model` computes medians, ratios and the bottleneck, `report` and `charts` write
`results/`, `runner` alternates the targets. The topology (nginx backends, HAProxy and fastlb
configs) is the wrk benchmark's, from `bench/`. `micro/` holds pytest-benchmark
micro-benchmarks of the native core (`make microbench`).
"""
