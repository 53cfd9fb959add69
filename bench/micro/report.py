"""BENCHMARKS-microbench.md from pytest-benchmark's JSON (`make microbench`):
`python -m bench.micro.report BENCH.json BENCHMARKS-microbench.md`.

The smooth-WRR picks get a table of their own: the binding beside the Cython builds and the
pure-Python reference, with the difference between the binding and the Cython extension type
that does the same work (the cost of one boundary against the other).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

# Benchmark function -> the row's label, in the table's order.
PICKS = {
    "test_pick_binding": "PyO3 binding (`fastlb.WeightedRoundRobin.pick`)",
    "test_pick_cython_cycle_new_str": "Cython, the binding's work: precomputed cycle, a new str "
    "per pick (`CyclePickNewStr`)",
    "test_pick_cython_cycle": "Cython, precomputed cycle, the table's own str (`CyclePick`)",
    "test_pick_cython_reference": "Cython build of the pure-Python reference (unchanged .py)",
    "test_pick_python_reference": "pure-Python reference (`smooth_wrr.py`)",
}


def split_name(name: str) -> tuple[str, str]:
    """`test_pick_binding[2 servers]` -> (`test_pick_binding`, `2 servers`)."""
    match = re.fullmatch(r"(\w+)(?:\[(.*)\])?", name)
    if match is None:
        return name, ""
    return match[1], match[2] or ""


def ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns"


def render(data: dict[str, Any]) -> str:
    medians: dict[tuple[str, str], float] = {}
    for bench in data["benchmarks"]:
        medians[split_name(bench["name"])] = float(bench["stats"]["median"])
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {}).get("brand_raw", "unknown CPU")
    lines = [
        "# Micro-benchmarks of the native core from Python",
        "",
        "`make microbench` wrote this (pytest-benchmark, bench/micro/; medians). "
        f"{cpu}, {machine.get('python_implementation', '')} "
        f"{machine.get('python_version', '')}, a shared 2-core machine: compare rows, "
        "not runs. Each row is timed once, so a row can land in a moment when other work "
        "took the cores: a row that disagrees with the same row of another run is noise.",
        "",
        "## Smooth weighted round-robin: one pick",
        "",
        "Cython is built only for this benchmark (bench/micro/cython_build.py, into "
        "target/cython-microbench/), never for the package.",
        "",
    ]
    sets = sorted({param for (func, param) in medians if func in PICKS})
    for param in sets:
        binding = medians.get(("test_pick_binding", param))
        lines += [
            f"### {param}",
            "",
            "| implementation | median per pick | vs the binding |",
            "| --- | ---: | ---: |",
        ]
        for func, label in PICKS.items():
            median = medians.get((func, param))
            if median is None:
                continue
            ratio = f"{median / binding:.2f}x" if binding else "-"
            lines.append(f"| {label} | {ns(median)} | {ratio} |")
        same_work = medians.get(("test_pick_cython_cycle_new_str", param))
        shared = medians.get(("test_pick_cython_cycle", param))
        if binding is not None and same_work is not None and shared is not None:
            lines += [
                "",
                f"PyO3's boundary against Cython's, for the same work: {ns(binding)} - "
                f"{ns(same_work)} = **{(binding - same_work) * 1e9:+,.0f} ns per pick**. "
                f"A new str per pick costs Cython {(same_work - shared) * 1e9:+,.0f} ns over "
                "returning the table's own.",
            ]
        lines.append("")
    others = sorted((key, m) for key, m in medians.items() if key[0] not in PICKS)
    if others:
        lines += ["## The rest", "", "| benchmark | case | median |", "| --- | --- | ---: |"]
        lines += [f"| {func} | {param} | {ns(m)} |" for (func, param), m in others]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m bench.micro.report BENCH.json OUTPUT.md", file=sys.stderr)
        return 2
    source, output = Path(args[0]), Path(args[1])
    output.write_text(render(json.loads(source.read_text())))
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
