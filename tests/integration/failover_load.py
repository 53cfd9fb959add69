"""Write load through fastlb for the failover tests: fastlb.harness.mysql_load."""

from fastlb.harness.mysql_load import CREATE, TABLE, WriteLoad

__all__ = ["CREATE", "TABLE", "WriteLoad"]
