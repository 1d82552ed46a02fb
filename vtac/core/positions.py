"""Which X-ray circle filters the VT sources when a burst has several (ECLAIRs, then MXT; EP, Swift ...).

The rule, applied to every position a burst received, whatever its channel (QPO_MXT file, MXT position
message, GCN VOEvent or Kafka JSON notice):

1. one instrument's later position replaces its earlier one, whatever their sizes: it is that instrument's
   update (MXT's refined circle, ECLAIRs' slewing notice after its wake-up one), and the instrument knows
   best which of its own measurements stands;
2. across instruments the smallest circle wins: a later, better (smaller) position supersedes an earlier
   one, a later, worse one (Swift BAT after EP FXT) does not;
3. equal radii: the later one wins (newer data, same precision).

"Later" is the caller's ordering (upstream time, then version, then arrival); any comparable key works.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vtac.core.records import MxtPosition


def choose_position(items: Iterable[tuple[MxtPosition, Any]]) -> MxtPosition | None:
    """The position to use among ``(position, recency)`` pairs (larger recency = later), or None."""
    latest: dict[str, tuple[Any, MxtPosition]] = {}
    for position, recency in items:
        current = latest.get(position.source)
        if current is None or recency > current[0]:
            latest[position.source] = (recency, position)
    if not latest:
        return None
    return max(latest.values(), key=lambda item: (-item[1].r90_arcsec, item[0]))[1]
