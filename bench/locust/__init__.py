"""Locust load tests of fastlb vs stock HAProxy 2.6 (`make loadtest`, `python -m bench.locust`).

Modules: `locustfile` holds the Locust user classes, `scenarios` says which class runs with how
many users, `results_model` keeps one record per run and computes the per-scenario medians,
ratios and the bottleneck, `report` and `charts` write `results/`, `runner` alternates the
targets, `mysql_topology` and `mysql_workload` are the MySQL scenario's servers and tables.
Running Locust once is a driver (`bench.drivers.locust`); the A/B order, medians and ratios
(`bench.ab`), the CPU sampling (`bench.procstat`), the result of a client run
(`bench.result.LoadResult`) and the nginx/HAProxy/fastlb topology are the wrk benchmark's.
"""
