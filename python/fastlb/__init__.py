"""fastlb: a load balancer with a Rust data path and a Python control plane.

    import fastlb

    with fastlb.LoadBalancer.from_file("fastlb.yaml") as lb:
        lb.set_weight("web", "web-01", 5)
        print(lb.stats())

The native core (`fastlb._core`) is imported on first use of `__version__` or
`WeightedRoundRobin`, so `import fastlb` and `fastlb check` work without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .balancer import LoadBalancer
from .config import Config, load_config
from .errors import (
    BackendUnavailableError,
    ConfigError,
    FastLBError,
    NoConfigFileError,
    NotRunningError,
    ServerExistsError,
    UnknownBackendError,
    UnknownRoleError,
    UnknownServerError,
    UnknownStateError,
    WeightOutOfRangeError,
)

if TYPE_CHECKING:
    from ._core import WeightedRoundRobin as WeightedRoundRobin
    from ._core import __version__ as __version__

__all__ = [
    "BackendUnavailableError",
    "Config",
    "ConfigError",
    "FastLBError",
    "LoadBalancer",
    "NoConfigFileError",
    "NotRunningError",
    "ServerExistsError",
    "UnknownBackendError",
    "UnknownRoleError",
    "UnknownServerError",
    "UnknownStateError",
    "WeightOutOfRangeError",
    "WeightedRoundRobin",
    "__version__",
    "load_config",
]


def __getattr__(name: str) -> Any:
    # PEP 562: resolve the native names lazily (see the module docstring).
    if name in ("__version__", "WeightedRoundRobin"):
        from . import _core

        return getattr(_core, name)
    raise AttributeError(f"module 'fastlb' has no attribute {name!r}")
