"""Active-passive failover: a VRRPv3 speaker (RFC 5798, IPv4) that moves virtual IPs
between two fastlb nodes, or a fastlb node and keepalived (`vrrp_version 3`)."""
