"""Python always sends every field to the core; the core's serde defaults (kept so that Rust
tests can write short JSON) must equal Python's. `tests/fixtures/core_config_defaults.json`
is what Python sends for a configuration that leaves every default alone; this test keeps it
current, and `src/config_defaults_tests.rs` (cargo test) proves that each serde default
parses to the same configuration.

    .venv/bin/python tests/test_core_defaults.py    # regenerates the fixture
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastlb.config import Config

FIXTURE = Path(__file__).parent / "fixtures" / "core_config_defaults.json"

# Only what has no default (names, addresses, the sections whose defaults are compared).
MINIMAL: dict[str, Any] = {
    "workers": 1,  # the default is the machine's CPU count
    "frontends": [
        {"name": "web", "listen": "127.0.0.1:8080", "backend": "web"},
        {"name": "site", "listen": "127.0.0.1:8081", "backend": "web", "mode": "http"},
        {"name": "sql", "listen": "127.0.0.1:6033", "backend": "db", "mode": "mysql"},
    ],
    "backends": [
        {
            "name": "web",
            "health_check": {"type": "http"},
            "servers": [{"name": "web-01", "address": "127.0.0.1:9001"}],
        },
        {
            "name": "db",
            "servers": [
                {"name": "db-1", "address": "127.0.0.1:3307", "role": "primary"},
                {"name": "db-2", "address": "127.0.0.1:3308", "role": "replica"},
            ],
            "mysql": {"users": [{"user": "app", "password": "secret"}]},
        },
    ],
}


# The core fields MINIMAL sets itself (not defaults): the Rust test doesn't leave them out.
EXPLICIT = [
    "workers",
    "frontends[1].mode",
    "frontends[2].mode",
    "backends[0].health_check",
    "backends[0].health_check.type",
    "backends[1].mysql",
    "backends[1].mysql.users",
    "backends[1].servers[0].role",
    "backends[1].servers[1].role",
]


def python_defaults() -> str:
    core = json.loads(Config.from_mapping(MINIMAL).to_core_json())
    fixture = {"explicit": EXPLICIT, "core": core}
    return json.dumps(fixture, indent=2, sort_keys=True) + "\n"


def test_the_fixture_is_what_python_sends() -> None:
    assert FIXTURE.read_text() == python_defaults(), (
        f"Python's core defaults changed: regenerate {FIXTURE} with "
        "`.venv/bin/python tests/test_core_defaults.py`, then run `cargo test config` "
        "to check the core's serde defaults against it"
    )


if __name__ == "__main__":
    FIXTURE.write_text(python_defaults())
    sys.stdout.write(f"wrote {FIXTURE}\n")
