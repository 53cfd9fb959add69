"""Failover tests: packets, state machine, config, and network-namespace clusters."""
