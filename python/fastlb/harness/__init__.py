"""One harness that starts real parts on this machine, for the tests, the benchmarks, the load
tests and `fastlb demo`: free loopback ports, bounded waits, child processes stopped by pid,
private MariaDB servers and replication topologies, a throwaway PKI, `fastlb serve` itself,
backends (threaded TCP servers, killable echo processes, nginx) and stock HAProxy's configs.

Nothing here fakes a part: every server is the real program. Only the standard library, the
package's own dependencies (PyYAML, PyMySQL, cryptography) and the system's programs
(mariadbd, nginx, haproxy) are used, so the harness ships in the wheel without pytest; the
pytest fixtures that wrap it live in tests/integration.
"""
