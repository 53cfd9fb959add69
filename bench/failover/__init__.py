"""Failover outage benchmark and its network-namespace lab (shared with tests/failover)."""
