"""A throwaway certificate authority for the TLS tests: fastlb.harness.pki."""

from fastlb.harness.pki import Server, TestCA, serial_of

__all__ = ["Server", "TestCA", "serial_of"]
