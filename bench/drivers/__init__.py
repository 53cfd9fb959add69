"""The load generators bench/ drives, one module each: run the tool, parse what it printed.

`wrk` and `h2load` (HTTP/1.1 and h2 throughput, into `bench.result.LoadResult`), `locust`
(one headless multi-process Locust run, its stats also as a `LoadResult`) and `sysbench`
(MySQL workloads, queries per second). `command` runs wrk or h2load and checks that it
succeeded.
"""
