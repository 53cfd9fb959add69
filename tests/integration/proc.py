"""The real `fastlb serve` in a subprocess, for the integration tests: fastlb.harness.process
(and the port helpers of fastlb.harness.ports), under the names the tests import."""

from fastlb.harness.ports import free_port, listening_ports, port_of
from fastlb.harness.process import (
    START_TIMEOUT,
    STOP_TIMEOUT,
    FastlbProcess,
    fastlb_command,
    frontend_port,
    make_config,
    pause_process,
)

__all__ = [
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "FastlbProcess",
    "fastlb_command",
    "free_port",
    "frontend_port",
    "listening_ports",
    "make_config",
    "pause_process",
    "port_of",
]
