"""What a burst identifier may look like: it names files, directories and SDB paths, so it is checked once,
here, before anything is written (no path separator, no ``.``/``..``, nothing hidden).
"""

from __future__ import annotations

import re

from vtac.errors import InputError

#: 1-64 characters from ``A-Z a-z 0-9 _ . -``, not starting with a dot (so never ``.``, ``..`` or hidden).
BURST_ID_PATTERN = r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,63}$"
_BURST_ID = re.compile(BURST_ID_PATTERN)


def checked_burst_id(value: str, *, origin: str = "burst id", file: str | None = None) -> str:
    """``value`` if it is a safe burst identifier, else an InputError saying where it came from."""
    if not _BURST_ID.match(value):
        raise InputError(
            f"{origin} {value!r} is not a burst identifier "
            "(1-64 of A-Z a-z 0-9 _ . -, not starting with '.')",
            file=file,
        )
    return value
