"""The bench's baseline: VTAC's former catalogue store (Dec-band/RA cells of 0.5 deg, numpy files).

Retired for HATS (issue 20: one store format; HATS was faster on the warm cone in the same run, see
bench/store.md); kept here only as the baseline ``make bench`` measures HATS against. The text below is its
original description.

A local, partitioned store of a reference catalogue, for catalogues far larger than memory.

Layout of ``DIR/<NAME>/``: ``manifest.json`` (catalogue, cell size, columns, rows, cells) and one numpy
``.npy`` file per sky cell and ingest part, holding the normalised columns of
:class:`vtac.core.records.CatalogAnswer` as one structured array. Cells are those of VTAC's one sky-cell
scheme (:mod:`vtac.core.cells`, shared with the cone cache), named ``<band>_<ra cell>``. A cone touches a
handful of cells; each is read whole (memory-mapped) and cut exactly by great-circle separation. Ingest
works file by file, so no more than one input file is ever in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.adapters.catalog_file import read_catalog_file
from vtac.adapters.files import write_atomically, write_bytes_atomically
from vtac.adapters.tables import existing_file
from vtac.core.cells import CellScheme
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.core.sky import separation_arcsec
from vtac.errors import ConfigurationError, InputError

MANIFEST = "manifest.json"
log = logging.getLogger(__name__)
#: Half a degree: a 10' cone reads at most four cells, and a VT field store has only a few dozen.
DEFAULT_CELL_DEG = 0.5
_ID_BYTES = 32


class CatalogStore:
    """One catalogue in a store directory: ingest files, answer cones."""

    def __init__(self, root: str | Path, name: str) -> None:
        self.name = name.upper()
        self.directory = Path(root) / self.name
        self._manifest = self._read_manifest()

    def _read_manifest(self) -> dict:
        path = self.directory / MANIFEST
        if not path.exists():
            return {
                "catalog": self.name,
                "cell_deg": DEFAULT_CELL_DEG,
                "rows": 0,
                "parts": 0,
                "cells": {},
                "file_cells": [],
                "fetched_cones": [],
            }
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("catalog") != self.name:
            raise InputError(f"store holds {manifest.get('catalog')}, not {self.name}", file=str(path))
        return manifest

    @property
    def scheme(self) -> CellScheme:
        """The cell scheme the store was built with."""
        return CellScheme(float(self._manifest["cell_deg"]))

    @property
    def columns(self) -> list[str] | None:
        """Columns fixed by the first ingest (None before it)."""
        return self._manifest.get("columns")

    @property
    def n_rows(self) -> int:
        """Rows ingested so far."""
        return int(self._manifest["rows"])

    def ingest(self, paths: Iterable[str | Path]) -> int:
        """Add catalogue files (any format the file reader takes); return the rows added.

        Idempotent: a file whose content the store already holds (by SHA-256) is skipped, so ingesting the
        same files twice (a retried script, a second operator) never duplicates rows.
        """
        added = 0
        ingested = self._manifest.setdefault("ingested", [])
        for path in paths:
            digest = hashlib.sha256(existing_file(path).read_bytes()).hexdigest()
            if digest in ingested:
                log.warning("%s: %s already ingested (same content), skipped", self.name, Path(path).name)
                continue
            answer = read_catalog_file(self.name, path)
            assert answer.table is not None
            added += self.ingest_table(answer.table)
            ingested.append(digest)
            self._write_manifest()
        self.compact()
        return added

    def compact(self) -> None:
        """Merge each cell's parts into one file, so a cone opens one file per cell.

        The merged file is written atomically beside the parts before they are removed.
        """
        for cell in self._manifest["cells"]:
            folder = self.directory / cell
            parts = sorted(folder.glob("part-*.npy"))
            if len(parts) < 2:
                continue
            merged = np.concatenate([np.load(path) for path in parts])
            target = folder / f"part-{int(self._manifest['parts']):05d}.npy"
            write_atomically(target, partial(_save, rows=merged))
            self._manifest["parts"] = int(self._manifest["parts"]) + 1
            for path in parts:
                path.unlink()
        self._write_manifest()

    def ingest_table(self, table: Table, fetched_cone: tuple[float, float, float] | None = None) -> int:
        """Add one normalised catalogue table, as a new part of every cell it touches.

        A table from a whole catalogue file covers the cells it fills; a table fetched for a cone
        (``fetched_cone`` = RA, Dec, radius in arcsec) covers only that cone, which the store remembers.
        """
        if fetched_cone is not None:
            self._manifest["fetched_cones"].append(list(fetched_cone))
        rows = _structured(table, self.columns)
        if len(rows) == 0:
            self._write_manifest()
            return 0
        names = self.scheme.cell_names(rows["RA"], rows["DEC"])
        order = np.argsort(names, kind="stable")
        names, rows = names[order], rows[order]
        cell_names, starts = np.unique(names, return_index=True)
        part = int(self._manifest["parts"])
        cells = self._manifest["cells"]
        for cell, start, end in zip(cell_names, starts, [*starts[1:], len(rows)], strict=True):
            folder = self.directory / str(cell)
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / f"part-{part:05d}.npy", rows[start:end])
            cells[str(cell)] = cells.get(str(cell), 0) + int(end - start)
        if fetched_cone is None:
            self._manifest["file_cells"] = sorted(
                set(self._manifest["file_cells"]) | set(map(str, cell_names))
            )
        self._manifest.update(
            rows=self.n_rows + len(rows), parts=part + 1, columns=list(rows.dtype.names or ())
        )
        self._write_manifest()
        return len(rows)

    def _write_manifest(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_bytes_atomically(self.directory / MANIFEST, json.dumps(self._manifest, indent=1).encode())

    def cone(self, ra: float, dec: float, radius_arcsec: float) -> CatalogAnswer:
        """Every stored source within the cone, once; NOT_COVERED where the store cannot vouch for it."""
        touched = self.scheme.cells_of_cone(ra, dec, radius_arcsec / 3600.0)
        if not self._covers(touched, ra, dec, radius_arcsec):
            return CatalogAnswer(
                self.name,
                CatalogStatus.NOT_COVERED,
                message=f"store {self.directory} does not cover {radius_arcsec:.0f} arcsec around "
                f"({ra:.5f}, {dec:+.5f})",
            )
        parts = [
            np.load(path, mmap_mode="r")
            for cell in touched
            if cell in self._manifest["cells"]
            for path in sorted((self.directory / cell).glob("*.npy"))
        ]
        inside = [_within(part, ra, dec, radius_arcsec) for part in parts]
        table = Table(
            np.concatenate(inside) if inside else _structured(Table({"RA": [], "DEC": []}), self.columns)
        )
        if len(self._manifest["fetched_cones"]) > 1:  # overlapping fetches: each source once
            _, first = np.unique(np.asarray(table["ID"]), return_index=True)
            table = table[np.sort(first)]
        table["ID"] = np.asarray(table["ID"]).astype("U")
        return CatalogAnswer(
            self.name, CatalogStatus.OK, table, message=f"{len(table)} sources from store {self.directory}"
        )

    def _covers(self, touched: list[str], ra: float, dec: float, radius_arcsec: float) -> bool:
        """Whole files cover the cells they filled; a fetch covers its cone only."""
        if set(touched) & set(self._manifest["file_cells"]):
            return True
        return any(
            float(separation_arcsec(ra, dec, cone_ra, cone_dec)) + radius_arcsec <= cone_radius
            for cone_ra, cone_dec, cone_radius in self._manifest["fetched_cones"]
        )


def _save(stream: IO[bytes], rows: NDArray[np.void]) -> None:
    np.save(stream, rows, allow_pickle=False)


def _within(rows: NDArray[np.void], ra: float, dec: float, radius_arcsec: float) -> NDArray[np.void]:
    """The rows of one part inside the cone: a cheap Dec cut first, exact separations on what is left."""
    radius_deg = radius_arcsec / 3600.0
    near = rows[np.abs(rows["DEC"] - dec) <= radius_deg]
    return near[separation_arcsec(near["RA"], near["DEC"], ra, dec) <= radius_arcsec]


def _structured(table: Table, columns: list[str] | None) -> NDArray:
    """The table as one structured array: float64 columns, ID as ASCII bytes.

    The first ingest fixes the columns of the store; later files are fitted to them (a column they lack is
    NaN, one the store lacks is dropped), so every part of every cell reads as one array.
    """
    if "RA" not in table.colnames or "DEC" not in table.colnames:
        raise ConfigurationError("a catalogue table to store needs RA and DEC")
    names = columns or ["ID", *[name for name in table.colnames if name != "ID"]]
    dtype = [("ID", f"S{_ID_BYTES}")] + [(name, "f8") for name in names[1:]]
    rows = np.empty(len(table), dtype=dtype)
    ids = table["ID"] if "ID" in table.colnames else np.arange(len(table))
    rows["ID"] = np.char.encode(np.asarray(ids).astype(str), "ascii")
    for name in names[1:]:
        if name in table.colnames:
            rows[name] = np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan)
        else:
            rows[name] = np.nan
    return rows
