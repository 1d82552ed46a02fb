"""On-disk cache of catalogue cone answers, keyed by catalogue and sky cell, with a maximum age.

A rerun, or a second burst in the same field, must cost no network. The sky is cut into cells of about
``cell_deg`` by VTAC's one sky-cell scheme (:mod:`vtac.core.cells`, shared with the catalogue store). A
request is widened to the *cell cone*: centred on its cell, with a radius (rounded up to whole arcminutes)
that holds any cone of the requested radius centred anywhere in the cell. That wider cone is what is fetched
and stored, so every later request of that radius or less centred in the same cell is a hit, cut to its own
cone.

Only complete answers are stored (status OK, not truncated): a failure is never remembered as an answer.
Files are numpy arrays ``<NAME>_<band>_<cell>_r<arcmin>.npy`` (one structured array: a hit reads in well under
a millisecond, where a FITS table took several) written atomically (temporary file, rename), so concurrent
runs never read half a file; an unreadable or stale file is a miss.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vtac.adapters.files import write_atomically
from vtac.core.cells import CellScheme
from vtac.core.coverage import Cone
from vtac.core.model import CatalogAnswer, CatalogStatus
from vtac.core.sky import separation_arcsec

DEFAULT_MAX_AGE_S = 7 * 86400.0
DEFAULT_CELL_DEG = 0.1


@dataclass(frozen=True)
class CellCone:
    """The cache key of a request and the wider cone fetched for it."""

    key: str
    cone: Cone


@dataclass(frozen=True)
class ConeCache:
    """Cone answers stored under ``directory``; older than ``max_age_s`` is a miss."""

    directory: Path
    max_age_s: float = DEFAULT_MAX_AGE_S
    cell_deg: float = DEFAULT_CELL_DEG

    def cell_cone(self, name: str, cone: Cone) -> CellCone:
        """The cell of the request's centre and the cone to fetch for it."""
        scheme = CellScheme(self.cell_deg)
        band, cell = scheme.cell_of(cone.ra, cone.dec)
        box = scheme.bounds(band, cell)
        ra_centre, dec_centre = box.centre
        corners = separation_arcsec(
            np.array([box.ra_low, box.ra_high] * 2),
            np.array([box.dec_low, box.dec_low, box.dec_high, box.dec_high]),
            ra_centre,
            dec_centre,
        )
        radius_arcmin = math.ceil((cone.radius_deg * 3600.0 + float(corners.max())) / 60.0)
        return CellCone(
            f"{name}_{band}_{cell}_r{radius_arcmin}", Cone(ra_centre, dec_centre, radius_arcmin / 60.0)
        )

    def get(self, name: str, cone: Cone) -> CatalogAnswer | None:
        """The cached answer cut to the cone, or None (no file, too old, unreadable)."""
        wanted = self.cell_cone(name, cone)
        prefix, _, _ = wanted.key.rpartition("_r")
        for path in sorted(self.directory.glob(f"{prefix}_r*.npy")):
            radius_arcmin = _radius_of(path)
            if radius_arcmin is None or radius_arcmin < wanted.cone.radius_deg * 60.0 - 1e-9:
                continue
            answer = self._read_fresh(name, path)
            if answer is not None:
                return cut_to_cone(answer, cone)
        return None

    def put(self, cell: CellCone, answer: CatalogAnswer) -> Path | None:
        """Store a complete answer of the cell cone; anything else is not stored (returns None)."""
        if not answer.usable or answer.truncated or answer.table is None:
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        rows = _plain_rows(answer.table)
        return write_atomically(
            self.directory / f"{cell.key}.npy", lambda stream: np.save(stream, rows, allow_pickle=False)
        )

    def _read_fresh(self, name: str, path: Path) -> CatalogAnswer | None:
        from astropy.table import Table  # pylint: disable=import-outside-toplevel

        try:
            age = time.time() - path.stat().st_mtime
            if age > self.max_age_s:
                return None
            table = Table(np.load(path, allow_pickle=False))
        except (OSError, ValueError):
            return None
        message = f"from the cone cache ({path.name}, {age / 3600.0:.1f} h old)"
        return CatalogAnswer(name, CatalogStatus.OK, table, message)


def _plain_rows(table) -> np.ndarray:
    """The table as one plain structured array: masked floats become NaN, other masked values their fill."""
    columns = {}
    for name in table.colnames:
        column = table[name]
        if getattr(column, "mask", None) is not None and np.asarray(column.mask).any():
            fill = np.nan if column.dtype.kind == "f" else column.fill_value
            columns[name] = np.ma.filled(column, fill)
        else:
            columns[name] = np.asarray(column)
    rows = np.empty(len(table), dtype=[(name, values.dtype) for name, values in columns.items()])
    for name, values in columns.items():
        rows[name] = values
    return rows


def cut_to_cone(answer: CatalogAnswer, cone: Cone) -> CatalogAnswer:
    """The answer's rows inside the cone (the table of a non-OK answer is left as it is)."""
    if answer.table is None:
        return answer
    table = answer.table
    inside = separation_arcsec(table["RA"], table["DEC"], cone.ra, cone.dec) <= cone.radius_deg * 3600.0
    kept = table[inside]
    return CatalogAnswer(
        answer.name,
        answer.status,
        kept,
        f"{len(kept)} of {len(table)} in the cone; {answer.message}",
        answer.truncated,
    )


def _radius_of(path: Path) -> int | None:
    tail = path.stem.rpartition("_r")[2]
    return int(tail) if tail.isdigit() else None
