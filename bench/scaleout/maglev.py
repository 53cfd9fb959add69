"""Maglev's figures from the core's own tests (`src/balancer/maglev_tests.rs`), built with
the release profile: the cost of a pick against a round-robin pick (the `--ignored`
microbenchmark, best of its three rounds) and the fraction of clients that move when one
of N servers is added or removed (the disruption test prints what it asserts)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_COST = re.compile(r"maglev ([\d.]+) ns/pick, wrr ([\d.]+) ns/pick")
_MOVED = re.compile(r"n=(\d+): (removing|adding) one moves ([\d.]+) \(ideal ([\d.]+)\)")

__all__ = ["MaglevFigures", "maglev_figures"]


@dataclass
class MaglevFigures:
    maglev_ns: float = 0.0
    wrr_ns: float = 0.0
    # (servers before, "removing"|"adding") -> (moved, ideal)
    moved: dict[tuple[int, str], tuple[float, float]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        ratio = self.maglev_ns / self.wrr_ns
        moves = "; ".join(
            f"{n} servers, {how} one: {100 * got:.1f} % (1/N: {100 * ideal:.1f} %)"
            for (n, how), (got, ideal) in sorted(self.moved.items())
        )
        return [
            f"- **Maglev pick** (hash of the client address + one table read, 16 servers): "
            f"{self.maglev_ns:.1f} ns against {self.wrr_ns:.1f} ns for a round-robin pick, "
            f"ratio {ratio:.2f} (target: within 1.5x; one thread, best of 3 x 20 M picks)",
            f"- **Maglev disruption** (clients that change server, 65537-slot table): {moves}",
        ]


def maglev_figures() -> MaglevFigures:
    """Runs `cargo test --release` on the Maglev tests (builds them the first time)."""
    done = subprocess.run(
        ["cargo", "test", "--release", "--lib", "balancer::maglev", "--",
         "--include-ignored", "--nocapture", "--test-threads", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"cargo test failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    figures = MaglevFigures()
    costs = [(float(m[1]), float(m[2])) for m in _COST.finditer(done.stdout)]
    figures.maglev_ns = min(c[0] for c in costs)
    figures.wrr_ns = min(c[1] for c in costs)
    for m in _MOVED.finditer(done.stdout):
        figures.moved[(int(m[1]), m[2])] = (float(m[3]), float(m[4]))
    return figures
