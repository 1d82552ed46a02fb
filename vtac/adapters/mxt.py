"""QPO_MXT, the MXT quick position: reader, command-line parser and writer.

FITS layout (FSC): primary ``CARD = 'QPO_MXT'``; extensions ``QPO_MXT_S1`` .. ``QPO_MXT_S3`` with columns RA,
DEC, R90 (90 % error radius) and KNOWN_SOURCE (1 = a catalogued X-ray source), all with TUNIT. Like the FSC
consumers, the reader takes the row with the smallest R90 among those that are not known sources, over every
extension; missing or empty extensions are allowed. Units follow TUNIT (deg, arcmin, arcsec, rad); RA/DEC
without a unit are degrees, but an R90 without a unit is refused: deg and arcsec differ by 3600 and guessing
wrong would silently put every source inside (or outside) the X-ray circle.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from astropy.io import fits
from astropy.table import Table

from vtac.adapters.rawfits import DEFAULT_MAX_FITS_BYTES, RawHdu, fits_hdus, read_bytes, short_reason
from vtac.adapters.tables import existing_file, find_column, float_values, unit_scale
from vtac.adapters.trigger import header_trigger_time
from vtac.core.records import MxtPosition
from vtac.errors import InputError

log = logging.getLogger(__name__)

PRODUCT_CARD = "QPO_MXT"
EXTENSIONS = ("QPO_MXT_S1", "QPO_MXT_S2", "QPO_MXT_S3")
COLUMNS = ("RA", "DEC", "R90", "KNOWN_SOURCE")
_MAX_R90_ARCSEC = 180.0 * 3600.0


class MxtRow(NamedTuple):
    """One row of a QPO_MXT extension, as the writer takes it."""

    ra: float
    dec: float
    r90_arcsec: float
    known_source: int = 0


class QpoMxt(NamedTuple):
    """What a QPO_MXT gives: the best position (None when no row is usable) and the trigger time TT_ECL."""

    position: MxtPosition | None
    trigger_time: datetime | None


def read_qpo_mxt(path: str | Path) -> QpoMxt:
    """The best MXT position and the trigger time of a QPO_MXT file."""
    path = existing_file(path)
    return parse_qpo_mxt(read_bytes(path), path.name)


def parse_qpo_mxt(raw: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_FITS_BYTES) -> QpoMxt:
    """A QPO_MXT from its bytes, read once: the structure bounded first, then the position extensions.

    No usable row is not an error: the position is None (logged with the reason), the MXT filter is off.
    """
    hdus = fits_hdus(raw, name, max_bytes=max_bytes)
    _check_card(hdus[0].header, name)
    present = [hdu for hdu in hdus[1:] if hdu.name.upper() in EXTENSIONS]
    candidates = [row for hdu in present for row in _usable_rows(hdu, name)]
    trigger_time = header_trigger_time(hdus[0].header, file=name)
    if not candidates:
        reason = (
            "every row is a known X-ray source or invalid, or the extensions are empty"
            if present
            else f"no {'/'.join(EXTENSIONS)} extension"
        )
        log.warning("%s: no usable MXT position (%s); the MXT filter is off", name, reason)
        return QpoMxt(None, trigger_time)
    position, origin = min(candidates, key=lambda item: item[0].r90_arcsec)
    log.info("%s: MXT position from %s: %s", name, origin, position)
    return QpoMxt(position, trigger_time)


def _check_card(header: Mapping[str, Any], file: str) -> None:
    card = header.get("CARD")
    if card is not None and str(card).strip().upper() != PRODUCT_CARD:
        raise InputError(f"CARD = '{card}', not {PRODUCT_CARD}: wrong product", file=file, hdu="PRIMARY")


def _usable_rows(hdu: RawHdu, file: str) -> list[tuple[MxtPosition, str]]:
    """Positions of the rows of one extension that are valid and not known sources."""
    if not hdu.is_bintable and hdu.data:
        raise InputError("not a table extension", file=file, hdu=hdu.name)
    n_rows = int(hdu.header.get("NAXIS2", 0)) if hdu.is_bintable else 0
    if n_rows == 0:
        log.info("%s: extension %s is empty", file, hdu.name)
        return []
    try:
        table = Table.read(hdu.to_astropy())
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"unreadable table ({short_reason(exc)})", file=file, hdu=hdu.name) from exc
    names = {column: _require(table, column, file, hdu.name) for column in COLUMNS}

    def values(column: str) -> np.ndarray:
        return float_values(table[names[column]], file=file, hdu=hdu.name, column_name=names[column])

    ra = values("RA") * unit_scale(table[names["RA"]].unit, "deg", file=file, hdu=hdu.name, column="RA")
    dec = values("DEC") * unit_scale(table[names["DEC"]].unit, "deg", file=file, hdu=hdu.name, column="DEC")
    r90 = values("R90") * unit_scale(
        table[names["R90"]].unit, "arcsec", file=file, hdu=hdu.name, column="R90", default=None
    )
    known = values("KNOWN_SOURCE") == 1.0
    valid = (ra >= 0) & (ra < 360) & (np.abs(dec) <= 90) & (r90 > 0) & (r90 <= _MAX_R90_ARCSEC)
    _log_skipped(file, hdu.name, n_rows, known, valid)
    return [
        (MxtPosition(float(ra[row]), float(dec[row]), float(r90[row])), f"{hdu.name} row {row + 1}")
        for row in np.flatnonzero(valid & ~known)
    ]


def _require(table: Table, column: str, file: str, hdu: str) -> str:
    name = find_column(table.colnames, (column,))
    if name is None:
        raise InputError("required column missing", file=file, hdu=hdu, column=column)
    return name


def _log_skipped(file: str, hdu: str, n_rows: int, known: np.ndarray, valid: np.ndarray) -> None:
    if known.any():
        log.info(
            "%s: %s: %d of %d rows are known X-ray sources, skipped", file, hdu, int(known.sum()), n_rows
        )
    if not valid.all():
        log.warning("%s: %s: %d rows with invalid RA/DEC/R90 skipped", file, hdu, int((~valid).sum()))


def parse_mxt_position(text: str) -> MxtPosition:
    """``"RA,DEC,R90_ARCSEC"`` (degrees, degrees, arcsec) from the command line, range-checked."""
    fields = [field.strip() for field in text.split(",")]
    if len(fields) != 3:
        raise InputError(f"MXT position '{text}': expected RA,DEC,R90_ARCSEC (deg, deg, arcsec)")
    try:
        ra, dec, r90 = (float(field) for field in fields)
    except ValueError as exc:
        raise InputError(f"MXT position '{text}': RA, DEC and R90 must be numbers") from exc
    if not (math.isfinite(ra) and 0.0 <= ra < 360.0):
        raise InputError(f"MXT position '{text}': RA {ra} outside [0, 360) deg")
    if not (math.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise InputError(f"MXT position '{text}': DEC {dec} outside [-90, 90] deg")
    if not (math.isfinite(r90) and 0.0 < r90 <= _MAX_R90_ARCSEC):
        raise InputError(f"MXT position '{text}': R90 {r90} must be a positive radius in arcsec")
    return MxtPosition(ra, dec, r90)


def write_qpo_mxt(
    path: str | Path,
    rows_per_extension: Sequence[Sequence[MxtRow | tuple[float, float, float, int]] | None],
    burst_id: str | None = None,
    trigger_time: str | None = None,
) -> Path:
    """Write a QPO_MXT file: item i of ``rows_per_extension`` fills ``QPO_MXT_S<i+1>`` (None: no extension).

    Rows are (ra deg, dec deg, r90 arcsec, known_source); R90 is written in degrees with TUNIT, like the
    MXT_ERR keyword and the MXT notices.
    """
    if len(rows_per_extension) > len(EXTENSIONS):
        raise ValueError(f"at most {len(EXTENSIONS)} QPO_MXT extensions, got {len(rows_per_extension)}")
    primary = fits.PrimaryHDU()
    primary.header["CARD"] = (PRODUCT_CARD, "Product card")
    if burst_id:
        primary.header["BURST_ID"] = (burst_id, "Burst identifier")
    if trigger_time:
        primary.header["TT_ECL"] = (trigger_time, "Trigger time from ECLAIRs in UTC")
    hdus = [primary]
    for name, rows in zip(EXTENSIONS, rows_per_extension, strict=False):
        if rows is not None:
            hdus.append(_extension(name, [MxtRow(*row) for row in rows]))
    path = Path(path)
    fits.HDUList(hdus).writeto(path, overwrite=True, checksum=True)
    return path


def _extension(name: str, rows: list[MxtRow]) -> Any:
    def column(values: list[float], unit: str | None, label: str, fmt: str = "D") -> Any:
        return fits.Column(name=label, format=fmt, unit=unit, array=np.asarray(values))

    return fits.BinTableHDU.from_columns(
        [
            column([row.ra for row in rows], "deg", "RA"),
            column([row.dec for row in rows], "deg", "DEC"),
            column([row.r90_arcsec / 3600.0 for row in rows], "deg", "R90"),
            column([int(row.known_source) for row in rows], None, "KNOWN_SOURCE", "I"),
        ],
        name=name,
    )
