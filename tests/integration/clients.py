"""Real socket clients for the integration tests: fastlb.harness.sockets (and its bounded
wait_until), under the names the tests import."""

from fastlb.harness.sockets import (
    CHUNK,
    DEFAULT_TIMEOUT,
    abort,
    ask_name,
    connect,
    echo_large,
    echo_roundtrip,
    hash_exact,
    open_descriptors,
    recv_exact,
    recv_line,
    recv_until_eof,
    send_length_prefixed,
    wait_for_close,
)
from fastlb.harness.waiting import wait_until

__all__ = [
    "CHUNK",
    "DEFAULT_TIMEOUT",
    "abort",
    "ask_name",
    "connect",
    "echo_large",
    "echo_roundtrip",
    "hash_exact",
    "open_descriptors",
    "recv_exact",
    "recv_line",
    "recv_until_eof",
    "send_length_prefixed",
    "wait_for_close",
    "wait_until",
]
