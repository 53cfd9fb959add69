"""pytest-benchmark micro-benchmarks of the native core seen from Python (`make microbench`).

Not part of `make test`: they time things and assert nothing about the times. `make
loadtest-ci` runs them once each with `--benchmark-disable`, so their correctness checks
(the reference picks what the binding picks, the classifier routes a SELECT to a replica)
keep them honest.
"""
