"""PNG charts of a load test: throughput and latency percentiles per scenario, fastlb vs HAProxy."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed (CI, ssh)

import matplotlib.pyplot as plt

from bench.locust.results_model import DISPLAY_NAMES, PERCENTILES, ScenarioSummary

COLORS = {"fastlb": "#2a7ab0", "haproxy": "#9a9a9a"}


def unit(metric: str) -> tuple[str, float]:
    """Axis label and divisor for a throughput metric."""
    return ("MiB/s", 2**20) if metric == "bytes_per_s" else ("requests/s", 1.0)


def throughput_chart(summaries: list[ScenarioSummary], path: Path) -> None:
    """One panel per scenario: median bars, every round as a dot, the ratio in the title."""
    fig, axes = plt.subplots(1, len(summaries), figsize=(4.2 * len(summaries), 4), squeeze=False)
    for ax, s in zip(axes[0], summaries, strict=True):
        label, divisor = unit(s.scenario.metric)
        for x, side in enumerate((s.candidate, s.baseline)):
            median = (side.throughput or 0.0) / divisor
            ax.bar(
                x, median, width=0.6, color=COLORS[side.target], label=DISPLAY_NAMES[side.target]
            )
            # Inside the bar: above it would collide with the dot of the median round.
            ax.annotate(
                f"{median:,.0f}", (x, 0), xytext=(0, 4), textcoords="offset points",
                ha="center", va="bottom", fontsize=9, color="white", fontweight="bold",
            )  # fmt: skip
            rounds = [r.rate(s.scenario.metric) / divisor for r in side.runs if r.problem is None]
            ax.plot([x] * len(rounds), rounds, "o", color="black", markersize=3, alpha=0.6)
        ratio = s.throughput_ratio
        ax.set_title(
            f"{s.scenario.title}\nfastlb / HAProxy = {'-' if ratio is None else f'{ratio:.2f}'}",
            fontsize=10,
        )
        ax.set_xticks([0, 1], [DISPLAY_NAMES[s.candidate.target], DISPLAY_NAMES[s.baseline.target]])
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.margins(y=0.15)
    fig.suptitle("Throughput (median of the rounds; dots: each round)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def latency_chart(summaries: list[ScenarioSummary], path: Path) -> None:
    """One panel per scenario: p50 / p95 / p99 response time, fastlb beside HAProxy."""
    fig, axes = plt.subplots(1, len(summaries), figsize=(4.2 * len(summaries), 4), squeeze=False)
    width = 0.38
    for ax, s in zip(axes[0], summaries, strict=True):
        for offset, side in ((-width / 2, s.candidate), (width / 2, s.baseline)):
            values = [side.median(name) or 0.0 for name in PERCENTILES]
            xs = [i + offset for i in range(len(values))]
            ax.bar(
                xs, values, width=width, color=COLORS[side.target], label=DISPLAY_NAMES[side.target]
            )
            for x, value in zip(xs, values, strict=True):
                ax.annotate(f"{value:.0f}", (x, value), ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(PERCENTILES)), [name[:3] for name in PERCENTILES])
        ax.set_title(s.scenario.title, fontsize=10)
        ax.set_ylabel("response time, ms (lower is better)")
        ax.margins(y=0.15)
        ax.legend(fontsize=8)
    fig.suptitle("Latency percentiles seen by Locust (median of the rounds)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
