"""The burst trigger time T0: where it is known, which source wins, and its FITS keyword ``TT_ECL``.

T0 is known from (best first) a position notice (ECLAIRs, MXT or another mission's alert), the QPO_MXT file,
the ``TT_ECL`` keyword of the VT source lists, and last the operator's ``--t0``. The light-curve fit, the
charts, the circular, the VOEvent and the notice all count times from the one chosen here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vtac.errors import InputError

log = logging.getLogger(__name__)

KEYWORD = "TT_ECL"
#: Two sources further apart than this (s) disagree: logged, the better source kept.
AGREEMENT_S = 1.0


@dataclass(frozen=True)
class TriggerTime:
    """One source's T0 (naive UTC) and what it came from (``ECLAIRs notice``, ``QPO_MXT``, ``TT_ECL``...)."""

    source: str
    time: datetime


def naive_utc(moment: datetime) -> datetime:
    """An aware time converted to UTC without a zone; a naive one is taken as UTC already."""
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def parse_t0(text: str) -> datetime:
    """A ``--t0`` value: ISO 8601 UTC, e.g. 2026-05-09T21:51:09 (a trailing Z is allowed)."""
    try:
        return naive_utc(datetime.fromisoformat(text.strip().removesuffix("Z").strip()))
    except ValueError:
        raise InputError(f"--t0 {text!r}: expected an ISO 8601 UTC time, e.g. 2026-05-09T21:51:09") from None


def header_trigger_time(header: Any, *, file: str, hdu: str = "PRIMARY") -> datetime | None:
    """``TT_ECL`` of a FITS header (None when absent or blank); an unreadable value is refused by name."""
    value = header.get(KEYWORD)
    if value is None or not str(value).strip():
        return None
    try:
        return naive_utc(datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")))
    except ValueError:
        raise InputError(
            f"{KEYWORD} = {value!r} is not an ISO 8601 UTC time", file=file, hdu=hdu, column=KEYWORD
        ) from None


def choose_trigger_time(candidates: Iterable[TriggerTime | None]) -> TriggerTime | None:
    """The first known T0 of ``candidates`` (best source first); a later source that disagrees is logged."""
    known = [item for item in candidates if item is not None]
    if not known:
        return None
    chosen = known[0]
    for other in known[1:]:
        if abs((other.time - chosen.time).total_seconds()) > AGREEMENT_S:
            log.warning(
                "T0 of the %s (%s) differs from the %s one (%s): the %s one is used",
                other.source,
                other.time.isoformat(),
                chosen.source,
                chosen.time.isoformat(),
                chosen.source,
            )
    return chosen
