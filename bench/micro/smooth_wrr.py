"""nginx's smooth weighted round-robin in pure Python: the reference the binding is timed against.

The textbook algorithm, O(servers) per pick: every pick adds each weight to its server's
running score, takes the highest score (the first one on a tie, as nginx) and subtracts the
total weight from it. fastlb's core computes the same sequence once per weight change and
then picks with one atomic increment into the precomputed cycle.
"""

from __future__ import annotations

from collections.abc import Mapping


class SmoothWeightedRoundRobin:
    def __init__(self, weights: Mapping[str, int]) -> None:
        self._names = list(weights)
        self._weights = [weights[name] for name in self._names]
        self._scores = [0] * len(self._names)
        self._total = sum(self._weights)

    def pick(self) -> str | None:
        """The next name, or None when every weight is 0."""
        best = -1
        scores, weights = self._scores, self._weights
        for index, weight in enumerate(weights):
            if weight == 0:
                continue
            scores[index] += weight
            if best < 0 or scores[index] > scores[best]:
                best = index
        if best < 0:
            return None
        scores[best] -= self._total
        return self._names[best]
