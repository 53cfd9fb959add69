"""One harness that starts real parts on this machine, for the tests, the benchmarks, the load
tests and `fastlb demo`: free loopback ports, bounded waits, child processes stopped by pid,
private MariaDB servers and replication topologies, a throwaway PKI, `fastlb serve` itself,
backends (threaded TCP servers, killable echo processes, nginx), stock HAProxy's configs, and
network-namespace topologies: a segment of namespaces (`netns`), a VRRP pair of load balancers
(`vrrp_pair`, with stock keepalived from `keepalived`) and an ECMP fleet behind a BGP router
(`bgp_fleet`, FRR or BIRD from `bgp_router`).

Nothing here fakes a part: every server is the real program. Only the standard library, the
package's own dependencies (PyYAML, PyMySQL, cryptography) and the system's programs
(mariadbd, nginx, haproxy, keepalived, ip, FRR/BIRD) are used, so the harness ships in the
wheel without pytest; the pytest fixtures that wrap it live in tests/integration.
"""
