"""MariaDB GTID positions: parse, merge, compare.

A MariaDB GTID is `domain-server-sequence` (`0-1-42`); a position lists at most one GTID per
replication domain (`0-1-42,1-3-7`). Within a domain sequence numbers only grow, so a server
has applied a GTID when its position holds a sequence at least as high in that domain. (MySQL's
`uuid:1-42` sets are different; fastlb treats them as opaque text.)
"""

from __future__ import annotations

__all__ = ["covers", "merge", "parse"]


def parse(position: str) -> dict[int, int]:
    """`'0-1-42,1-3-7'` -> `{0: 42, 1: 7}` (domain -> sequence). Empty text -> `{}`.
    ValueError for anything that is not a MariaDB GTID position."""
    domains: dict[int, int] = {}
    for part in position.replace("\n", "").split(","):
        part = part.strip()
        if not part:
            continue
        fields = part.split("-")
        if len(fields) != 3 or not all(field.isdigit() for field in fields):
            raise ValueError(f"not a MariaDB GTID: {part!r} (in {position!r})")
        domain, sequence = int(fields[0]), int(fields[2])
        domains[domain] = max(sequence, domains.get(domain, 0))
    return domains


def covers(applied: str, wanted: str) -> bool:
    """Whether a server at position `applied` has applied every GTID of `wanted`."""
    have = parse(applied)
    return all(have.get(domain, -1) >= sequence for domain, sequence in parse(wanted).items())


def merge(first: str, second: str) -> str:
    """The position that covers both (per domain, the higher GTID), in `first`'s spelling of
    server ids where it wins."""
    parse(first), parse(second)  # ValueError for a malformed position, before anything else
    winners: dict[int, tuple[int, str]] = {}
    for position in (first, second):
        for part in filter(None, (p.strip() for p in position.replace("\n", "").split(","))):
            domain, _, sequence = part.split("-")
            key = int(domain)
            if key not in winners or int(sequence) > winners[key][0]:
                winners[key] = (int(sequence), part)
    return ",".join(winners[domain][1] for domain in sorted(winners))
