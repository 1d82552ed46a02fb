"""Atomic file writes, the one way VTAC writes a file others may read while it is being written.

The content goes to a fresh temporary file beside the target (created with mode 0666 minus the umask, so a
product is as readable by the group as any file the process creates: 0644 or 0640, never the 0600 of
``tempfile``), is flushed to disk, then takes the target's name in one step: ``os.replace`` (the newer file
wins) or ``os.link`` (``overwrite=False``: the first writer wins, a later one gets ``FileExistsError``). A
reader sees the whole file or none; a crash leaves at most a hidden ``.<name>.<random>.tmp``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO


def write_atomically(
    path: str | os.PathLike[str], write: Callable[[IO[bytes]], object], *, overwrite: bool = True
) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then give it the name ``path``."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            os.link(temporary, target)  # refuses an existing target, atomically
    finally:
        temporary.unlink(missing_ok=True)
    return target


def write_bytes_atomically(path: str | os.PathLike[str], content: bytes, *, overwrite: bool = True) -> Path:
    """:func:`write_atomically` of a bytes object."""
    return write_atomically(path, lambda stream: stream.write(content), overwrite=overwrite)
