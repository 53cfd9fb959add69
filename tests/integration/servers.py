"""Real backend servers for the integration tests: fastlb.harness.backends.tcp (threaded TCP
servers on 127.0.0.1 and their handlers)."""

from fastlb.harness.backends.tcp import (
    Handler,
    TcpServer,
    echo,
    half_close_first,
    length_prefixed_hash,
    named_echo,
    reply_after_eof,
    reset_after,
    source,
)

__all__ = [
    "Handler",
    "TcpServer",
    "echo",
    "half_close_first",
    "length_prefixed_hash",
    "named_echo",
    "reply_after_eof",
    "reset_after",
    "source",
]
