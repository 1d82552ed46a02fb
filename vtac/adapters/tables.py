"""Helpers shared by the input readers: file format from the name, one-table reading, column lookup, units.

Every reader turns what can go wrong with a user's file into one :class:`~vtac.errors.InputError` line that
names the file, the HDU and the column, so the helpers here take that location and raise with it.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from astropy import units as u
from astropy.io import fits, votable
from astropy.table import Table
from numpy.typing import NDArray

from vtac.adapters.rawfits import (
    DEFAULT_MAX_FITS_BYTES,
    FITS_BLOCK,
    MAX_NAXIS,
    RawHdu,
    bintable_columns,
    data_size,
    decompressed,
    fits_hdus,
    parse_header,
    short_reason,
)
from vtac.errors import InputError

__all__ = [  # the raw FITS reader moved to vtac.adapters.rawfits; its names stay importable from here
    "DEFAULT_MAX_FITS_BYTES",
    "FITS_BLOCK",
    "MAX_NAXIS",
    "RawHdu",
    "TableFile",
    "bintable_columns",
    "data_size",
    "decompressed",
    "existing_file",
    "find_column",
    "fits_hdus",
    "float_values",
    "meta_value",
    "parse_header",
    "read_table_file",
    "read_votable",
    "table_format",
    "unit_scale",
]

log = logging.getLogger(__name__)

FITS = "fits"
ECSV = "ecsv"
CSV = "csv"
VOTABLE = "votable"

_SUFFIX_FORMATS = {
    ".fits": FITS,
    ".fit": FITS,
    ".fts": FITS,
    ".ecsv": ECSV,
    ".csv": CSV,
    ".xml": VOTABLE,
    ".vot": VOTABLE,
    ".votable": VOTABLE,
}


def table_format(path: Path) -> str:
    """The format a file is read as, from its extension (a trailing ``.gz`` is allowed for FITS)."""
    name = path.name.lower()
    compressed = name.endswith(".gz")
    fmt = _SUFFIX_FORMATS.get(Path(name.removesuffix(".gz")).suffix)
    if fmt is None or (compressed and fmt != FITS):
        raise InputError(
            "unknown table format; expected .fits/.fit/.fts[.gz], .ecsv, .csv or .xml/.vot/.votable",
            file=path.name,
        )
    return fmt


def existing_file(path: str | Path) -> Path:
    """The path, checked to name a readable file (a directory or a missing file is an input error)."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file" if not path.exists() else "not a file", file=str(path))
    return path


@dataclass
class TableFile:
    """One table read from a file, with the metadata that went with it.

    ``meta`` holds the table's own metadata (ECSV header keys, VOTable PARAMs and INFOs, FITS header);
    ``overflow`` is True when a VO service said the result was truncated (QUERY_STATUS=OVERFLOW).
    """

    table: Table
    meta: dict[str, Any] = field(default_factory=dict)
    hdu: str | None = None
    overflow: bool = False


def read_table_file(path: Path, *, lazy_fits: bool = False) -> TableFile:
    """Read the single table of an ECSV, CSV, VOTable or FITS file (the first table HDU for FITS).

    ``lazy_fits``: a FITS table's columns are views of the file mapped in memory, read only when used, and
    NaN or empty values are left unmasked (astropy's ``mask_invalid`` scan of every column took three times
    as long as the rest of the read): for readers that take NaN and empty text as missing, such as the
    catalogue readers. A wide catalogue is then read narrow.
    """
    fmt = table_format(path)
    if fmt == VOTABLE:
        return read_votable(path)
    if fmt == FITS:
        return _read_fits_table(path, lazy=lazy_fits)
    try:
        table = Table.read(path, format="ascii.ecsv" if fmt == ECSV else "csv")
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"unreadable {fmt.upper()} table ({short_reason(exc)})", file=path.name) from exc
    return TableFile(table, dict(table.meta))


def _read_fits_table(path: Path, *, lazy: bool = False) -> TableFile:
    try:
        with fits.open(path, memmap=lazy) as hdul:
            for hdu in hdul[1:]:
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    table = Table.read(hdu, mask_invalid=not lazy)
                    return TableFile(table, dict(hdu.header), hdu=hdu.name or None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"unreadable FITS file ({short_reason(exc)})", file=path.name) from exc
    raise InputError("no table extension in this FITS file", file=path.name)


def read_votable(path: Path) -> TableFile:
    """First table of a VOTable, its PARAMs and INFOs as metadata; a service error response is an input error.

    Columns are named by their ``name`` attribute (VizieR's documented names, e.g. ``USNO-B1.0``), not by
    their XML ``ID``.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            document = votable.parse(str(path), verify="ignore")
    except (OSError, ValueError, TypeError, IndexError) as exc:
        raise InputError(f"unreadable VOTable ({short_reason(exc)})", file=path.name) from exc
    infos = list(_infos(document))
    errors = [str(info.value).strip() for info in infos if info.name == "Error" and str(info.value).strip()]
    statuses = {str(info.value).upper() for info in infos if info.name == "QUERY_STATUS"}
    tables = list(document.iter_tables())
    if "ERROR" in statuses or not tables:
        reason = f"service error response: {'; '.join(errors[:2])}" if errors else "no table in this VOTable"
        raise InputError(reason, file=path.name)
    if errors:
        log.warning("%s: the service reported errors with its result: %s", path.name, "; ".join(errors[:2]))
    first = tables[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = first.to_table(use_names_over_ids=True)
    meta: dict[str, Any] = {info.name: info.value for info in infos if info.name}
    params = [*_resource_params(document), *first.params]  # the table's own PARAMs win
    meta.update({param.name: param.value for param in params if param.name})
    return TableFile(table, meta, hdu=first.name or first.ID, overflow="OVERFLOW" in statuses)


def _infos(element: Any) -> Iterable[Any]:
    yield from getattr(element, "infos", ())
    for resource in getattr(element, "resources", ()):
        yield from _infos(resource)
    for table in getattr(element, "tables", ()):
        yield from getattr(table, "infos", ())


def _resource_params(element: Any) -> Iterable[Any]:
    for resource in getattr(element, "resources", ()):
        yield from resource.params
        yield from _resource_params(resource)


def _loose(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def find_column(names: Sequence[str], candidates: Sequence[str]) -> str | None:
    """The first of ``candidates`` present in ``names``: exact, then case-insensitive, then ignoring case and
    punctuation (so ``USNO-B1.0`` finds ``USNO_B1_0`` and ``RA_ICRS`` finds ``ra_icrs``).
    """
    present = list(names)
    for key in (lambda name: name, str.lower, _loose):
        index: dict[str, str] = {}
        for name in present:
            index.setdefault(key(name), name)
        for candidate in candidates:
            if key(candidate) in index:
                return index[key(candidate)]
    return None


def meta_value(meta: Mapping[str, Any], key: str) -> Any:
    """Metadata value of ``key`` compared case-insensitively (FITS and ECSV spell keys differently)."""
    if key in meta:
        return meta[key]
    lowered = key.lower()
    for name, value in meta.items():
        if str(name).lower() == lowered:
            return value
    return None


def float_values(column: Any, *, file: str, column_name: str, hdu: str | None = None) -> NDArray[np.float64]:
    """A numeric column as float64 with NaN where a value is missing (masked); text columns are an error."""
    if np.dtype(column.dtype).kind not in "iufb":
        raise InputError(f"not numeric (dtype {column.dtype})", file=file, hdu=hdu, column=column_name)
    if not np.ma.is_masked(column):  # one conversion, not a masked copy first (a 1e6-row ingest's columns)
        return _float_copy(np.asarray(column))
    return np.ma.filled(np.ma.asarray(column).astype(np.float64), np.nan)


#: Rows converted at a time by :func:`_float_copy`: a block of a FITS table's rows stays in the CPU cache.
_COPY_ROWS = 1 << 15


def _float_copy(values: NDArray[Any]) -> NDArray[np.float64]:
    """A float64 copy, converted by blocks of rows: a FITS column is strided across the table's rows, and
    converted whole it read the bytes of every row once per column (four times slower for 1e6 rows of 13
    columns).
    """
    copy = np.empty(values.shape, dtype=np.float64)
    for start in range(0, len(values), _COPY_ROWS):
        copy[start : start + _COPY_ROWS] = values[start : start + _COPY_ROWS]
    return copy


@lru_cache(maxsize=64)
def _conversion(unit: str, target: str) -> float | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for text in (unit, unit.lower()):
            parsed = u.Unit(text, parse_strict="silent")
            if isinstance(parsed, u.UnrecognizedUnit):
                continue
            try:
                return float(parsed.to(target))
            except u.UnitConversionError:
                return None
    return None


def unit_scale(
    unit: Any, target: str, *, file: str, column: str, hdu: str | None = None, default: float | None = 1.0
) -> float:
    """Factor converting values in ``unit`` to ``target``; ``default`` when no unit is declared.

    A declared unit that cannot be converted (``mag`` for a position, an unknown word) is an error rather
    than a silent guess; so is a missing unit when ``default`` is None.
    """
    text = "" if unit is None else str(unit).strip()
    if not text:
        if default is None:
            raise InputError(
                f"no unit (TUNIT) given; expected an angle such as {target}", **_at(file, hdu, column)
            )
        return default
    factor = _conversion(text, target)
    if factor is None:
        raise InputError(f"unit '{text}' cannot be converted to {target}", **_at(file, hdu, column))
    return factor


def _at(file: str, hdu: str | None, column: str) -> dict[str, Any]:
    return {"file": file, "hdu": hdu, "column": column}
