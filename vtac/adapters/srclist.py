"""QSRCLIST_VT, the calibrated VT source lists VTAC starts from: a validating reader and the matching writer.

FITS layout (FSC): a primary HDU (``BURST_ID``) and one BINTABLE ``FINDCH_<seq>`` per sequence, with columns
OBJID, X, Y, RA, DEC, MAGCAL, MAGERR, EFLAG, ELLIPTY and header keywords BAND ('VT_R'/'VT_B'), NTH (0-based),
MAGLIM, DATE-OBS and EXPOSURE (s). One file per band or both bands in one file; any subset of the 8 sequences.

Hand-made lists (ECSV, CSV, VOTable, or a FITS table without FINDCH extensions) hold one table with the same
columns plus either ``SEQ`` ('R0' ... 'B3') or ``BAND`` + ``NTH``. MAGLIM, DATE-OBS, EXPOSURE and BURST_ID
come from the table metadata (ECSV header, VOTable PARAM/INFO), as one value for every sequence, as a
mapping {seq: value}, or per sequence as ``MAGLIM_R0``; without it MAGLIM is NaN (unknown).

Structural problems (missing file, column or keyword, unknown sequence, a BAND that is not VT_R/VT_B, the
same sequence twice) raise :class:`~vtac.errors.InputError`. Rows with non-physical values are dropped and
counted instead, because one bad detection must not cost the burst: RA outside [0, 360), |DEC| > 90,
MAGCAL <= 0, MAGERR < 0, EFLAG negative or not an integer, ELLIPTY outside [0, 1], a non-integer OBJID, or
any of these non-finite. X, Y and ELLIPTY are optional (NaN when absent, NaN values kept: they are not used
to decide anything). Row numbers in messages are 1-based, as in FITS.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from numpy.typing import NDArray

from vtac.adapters.rawfits import DEFAULT_MAX_FITS_BYTES, RawHdu, bintable_columns, fits_hdus, read_bytes
from vtac.adapters.tables import (
    FITS,
    TableFile,
    existing_file,
    find_column,
    float_values,
    meta_value,
    read_table_file,
    table_format,
    unit_scale,
)
from vtac.adapters.trigger import header_trigger_time
from vtac.core.records import BAND_NAMES, DETECTION_COLUMNS, SEQUENCES, SequenceInfo, VTObservation
from vtac.errors import InputError

log = logging.getLogger(__name__)

FINDCH_PREFIX = "FINDCH_"
REQUIRED_COLUMNS = ("OBJID", "RA", "DEC", "MAGCAL", "MAGERR", "EFLAG")
OPTIONAL_COLUMNS = ("X", "Y", "ELLIPTY")
#: BAND header values of the FSC product -> band code; hand-made lists may also say 'R' or 'B'.
_HEADER_BANDS = {name: code for code, name in BAND_NAMES.items()}
_BAND_CODES = _HEADER_BANDS | {code: code for code in BAND_NAMES}
_SEQ_RANK = {seq: rank for rank, seq in enumerate(SEQUENCES)}
#: FITS layout written for each detection column: (TFORM, TUNIT).
_FITS_LAYOUT = {
    "OBJID": ("K", None),
    "X": ("D", "pix"),
    "Y": ("D", "pix"),
    "RA": ("D", "deg"),
    "DEC": ("D", "deg"),
    "MAGCAL": ("D", "mag"),
    "MAGERR": ("D", "mag"),
    "EFLAG": ("K", None),
    "ELLIPTY": ("D", None),
}

#: Raw column data of one block of rows, by canonical name: (values, unit).
_Columns = dict[str, tuple[Any, Any]]


@dataclass
class _Where:
    """Where a block of rows comes from, for error messages."""

    file: str
    hdu: str | None = None

    def error(self, message: str, column: str | None = None, row: int | None = None) -> InputError:
        """An InputError located here."""
        return InputError(message, file=self.file, hdu=self.hdu, column=column, row=row)


@dataclass
class _Part:
    """Validated detections of one block of rows (one FINDCH HDU or one hand-made table)."""

    seq: NDArray[np.str_]
    columns: dict[str, NDArray[Any]]
    n_rejected: int


@dataclass
class SourceList:
    """One QSRCLIST_VT read and validated, before it is merged with the burst's other lists: what the
    service reads once on arrival and builds from without reading the bytes again."""

    origin: str = ""
    parts: list[_Part] = field(default_factory=list)
    sequences: dict[str, SequenceInfo] = field(default_factory=dict)
    hdus: dict[str, str | None] = field(default_factory=dict)
    burst_id: str | None = None
    trigger_time: datetime | None = None

    @property
    def n_detections(self) -> int:
        """Rows kept (the rejected ones are counted in ``n_rejected``)."""
        return sum(len(part.seq) for part in self.parts)

    @property
    def n_rejected(self) -> int:
        """Rows dropped as non-physical or non-finite."""
        return sum(part.n_rejected for part in self.parts)


def read_srclists(paths: Sequence[str | Path]) -> VTObservation:
    """Merge QSRCLIST_VT files (FITS products or hand-made tables) into one validated observation."""
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise InputError("no QSRCLIST_VT file given")
    return merge_srclists([_read_file(existing_file(path)) for path in paths])


def parse_srclist(raw: bytes, name: str, *, max_bytes: int = DEFAULT_MAX_FITS_BYTES) -> SourceList:
    """One QSRCLIST_VT FITS product from its bytes (gzip allowed; structure bounded by ``max_bytes``)."""
    hdus = fits_hdus(raw, name, max_bytes=max_bytes)
    content = _fits_tables(hdus, name)
    content.trigger_time = header_trigger_time(hdus[0].header, file=name)
    return content


def merge_srclists(lists: Sequence[SourceList]) -> VTObservation:
    """One observation from the lists of a burst: a sequence given twice or two BURST_IDs are refused."""
    if not lists:
        raise InputError("no QSRCLIST_VT file given")
    sequences: dict[str, SequenceInfo] = {}
    seen_in: dict[str, str] = {}
    burst_id, burst_file = None, ""
    trigger_time = None
    for content in lists:
        for seq in content.sequences:
            if seq in seen_in:
                raise InputError(
                    f"sequence {seq} given twice (also in {seen_in[seq]})",
                    file=content.origin,
                    hdu=content.hdus[seq],
                )
            seen_in[seq] = content.origin
        if content.burst_id and burst_id and content.burst_id != burst_id:
            raise InputError(
                f"BURST_ID '{content.burst_id}' differs from '{burst_id}' of {burst_file}",
                file=content.origin,
            )
        if content.burst_id and not burst_id:
            burst_id, burst_file = content.burst_id, content.origin
        trigger_time = trigger_time or content.trigger_time
        sequences.update(content.sequences)
    parts = [part for content in lists for part in content.parts]
    ordered = {seq: sequences[seq] for seq in SEQUENCES if seq in sequences}
    n_rejected = sum(part.n_rejected for part in parts)
    origins = [content.origin for content in lists]
    observation = VTObservation(_detection_table(parts), ordered, burst_id, n_rejected, origins)
    observation.trigger_time = trigger_time
    return observation


def _read_file(path: Path) -> SourceList:
    if table_format(path) == FITS:
        return parse_srclist(read_bytes(path), path.name)
    return _read_handmade(read_table_file(path), _Where(path.name), None)


def _fits_tables(hdus: list[RawHdu], name: str) -> SourceList:
    burst_id = hdus[0].header.get("BURST_ID")
    findch = [hdu for hdu in hdus[1:] if hdu.name.startswith(FINDCH_PREFIX)]
    tables = [hdu for hdu in hdus[1:] if hdu.is_bintable]
    if not findch and not tables:
        raise InputError("no FINDCH_<seq> extension", file=name)
    return _read_findch_hdus(findch, name, burst_id) if findch else _read_table_hdu(tables[0], name, burst_id)


def _read_table_hdu(hdu: RawHdu, name: str, burst_id: Any) -> SourceList:
    """A hand-made list written as a FITS table (no FINDCH extension)."""
    where = _Where(name, hdu.name)
    try:
        table = Table.read(hdu.to_astropy())
    except (OSError, ValueError, TypeError) as exc:
        raise where.error(f"unreadable table ({str(exc).strip()[:200]})") from exc
    return _read_handmade(TableFile(table, dict(hdu.header), hdu=where.hdu), where, burst_id)


def _read_findch_hdus(hdus: list[RawHdu], file: str, burst_id: Any) -> SourceList:
    content = SourceList(origin=file, burst_id=_clean_text(burst_id))
    for hdu in hdus:
        where = _Where(file, hdu.name)
        info = _sequence_info(hdu, where)
        if info.name in content.sequences:
            raise where.error(f"sequence {info.name} given twice in this file")
        content.sequences[info.name] = info
        content.hdus[info.name] = hdu.name
        columns = _findch_columns(hdu, where)
        n_rows = len(columns["RA"][0])
        content.parts.append(_validated(columns, np.full(n_rows, info.name), where))
    return content


def _sequence_info(hdu: RawHdu, where: _Where) -> SequenceInfo:
    """SequenceInfo from a FINDCH header, after checking that BAND + NTH name the same sequence as EXTNAME."""
    seq = hdu.name[len(FINDCH_PREFIX) :]
    if seq not in _SEQ_RANK:
        raise where.error(f"unknown sequence '{seq}' (expected FINDCH_ + one of {', '.join(SEQUENCES)})")
    if not hdu.is_bintable:
        raise where.error("not a binary table extension")
    header = hdu.header
    band = header.get("BAND")
    code = _HEADER_BANDS.get(str(band).strip().upper())
    if band is None or code is None:
        raise where.error(
            "header BAND missing" if band is None else f"header BAND = '{band}' is not VT_R or VT_B"
        )
    nth = header.get("NTH")
    if not isinstance(nth, int | np.integer) or isinstance(nth, bool):
        raise where.error("header NTH missing" if nth is None else f"header NTH = {nth!r} is not an integer")
    if f"{code}{nth}" != seq:
        raise where.error(f"header BAND = '{band}', NTH = {nth} name sequence {code}{nth}, not {seq}")
    return SequenceInfo(
        seq,
        maglim=_maglim(header.get("MAGLIM")),
        date_obs=_clean_text(header.get("DATE-OBS")),
        exposure_s=_as_float(header.get("EXPOSURE")),
    )


def _findch_columns(hdu: RawHdu, where: _Where) -> _Columns:
    """Raw FINDCH columns with their TUNIT; integer TNULL values become masked."""
    names = hdu.column_names
    chosen = {}
    for canonical in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        name = find_column(names, (canonical,))
        if name is not None:
            chosen[canonical] = name
        elif canonical in REQUIRED_COLUMNS:
            raise where.error("required column missing", column=canonical)
    fast = bintable_columns(hdu, list(chosen.values()))
    if fast is not None:
        return {canonical: fast[name] for canonical, name in chosen.items()}
    try:
        table = Table.read(hdu.to_astropy())
    except (OSError, ValueError, TypeError) as exc:
        raise where.error(f"unreadable table ({str(exc).strip()[:200]})") from exc
    return {canonical: (table[name], table[name].unit) for canonical, name in chosen.items()}


def _read_handmade(table_file: TableFile, where: _Where, burst_id: Any) -> SourceList:
    """A hand-made list: one table whose rows say their sequence (SEQ, or BAND + NTH)."""
    table = table_file.table
    seq = _row_sequences(table, where)
    columns: _Columns = {}
    for canonical in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
        name = find_column(table.colnames, (canonical,))
        if name is None:
            if canonical in REQUIRED_COLUMNS:
                raise where.error("required column missing", column=canonical)
            continue
        columns[canonical] = (table[name], table[name].unit)
    content = SourceList(
        origin=where.file,
        burst_id=_clean_text(burst_id) or _clean_text(meta_value(table_file.meta, "BURST_ID")),
    )
    present = [name for name in SEQUENCES if np.any(seq == name)]
    if not present:
        raise where.error("no detection rows, so no sequence")
    for name in present:
        content.sequences[name] = _meta_sequence_info(table_file.meta, name)
        content.hdus[name] = where.hdu
    content.parts.append(_validated(columns, seq, where))
    return content


def _row_sequences(table: Table, where: _Where) -> NDArray[np.str_]:
    """Sequence of every row, from SEQ or from BAND + NTH; an unknown value is an error naming its row."""
    seq_name = find_column(table.colnames, ("SEQ",))
    if seq_name is not None:
        seq = _text_values(table[seq_name])
        column = seq_name
    else:
        band_name = find_column(table.colnames, ("BAND",))
        nth_name = find_column(table.colnames, ("NTH",))
        if band_name is None or nth_name is None:
            raise where.error("a SEQ column, or BAND and NTH columns, are required", column="SEQ")
        codes = np.array([_BAND_CODES.get(band, "?") for band in _text_values(table[band_name])], dtype="U1")
        _raise_on_first(codes == "?", table[band_name], where, band_name, "is not VT_R or VT_B")
        nth = float_values(table[nth_name], file=where.file, hdu=where.hdu, column_name=nth_name)
        _raise_on_first(~_is_integral(nth), table[nth_name], where, nth_name, "is not an integer")
        seq = np.char.add(codes, nth.astype(np.int64).astype("U2"))
        column = nth_name
    _raise_on_first(~np.isin(seq, SEQUENCES), seq, where, column, "is not a known sequence (R0..R3, B0..B3)")
    return seq.astype("U2")


def _raise_on_first(bad: NDArray[np.bool_], values: Any, where: _Where, column: str, problem: str) -> None:
    if np.any(bad):
        row = int(np.argmax(bad))
        raise where.error(f"value '{values[row]}' {problem}", column=column, row=row + 1)


def _text_values(column: Any) -> NDArray[np.str_]:
    data = np.ma.asarray(column)
    return np.char.upper(np.char.strip(np.ma.filled(data.astype(str), "")))


def _meta_sequence_info(meta: Mapping[str, Any], seq: str) -> SequenceInfo:
    return SequenceInfo(
        seq,
        maglim=_maglim(_meta_for(meta, "MAGLIM", seq)),
        date_obs=_clean_text(_meta_for(meta, "DATE-OBS", seq)),
        exposure_s=_as_float(_meta_for(meta, "EXPOSURE", seq)),
    )


def _meta_for(meta: Mapping[str, Any], key: str, seq: str) -> Any:
    """``KEY_<seq>``, else ``KEY`` as a {seq: value} mapping, else ``KEY`` as one value for all sequences."""
    value = meta_value(meta, f"{key}_{seq}")
    if value is None:
        value = meta_value(meta, key)
        if isinstance(value, Mapping):
            value = meta_value(value, seq)
    return value


def _validated(columns: _Columns, seq: NDArray[np.str_], where: _Where) -> _Part:
    """Detection arrays of the rows that pass every physical check; the other rows are counted."""
    values = {name: _numeric(name, column, where) for name, column in columns.items()}
    n_rows = len(seq)
    for name in OPTIONAL_COLUMNS:
        values.setdefault(name, np.full(n_rows, np.nan))
    objid, objid_ok = _integer_ids(columns["OBJID"][0], where)
    checks = {
        "OBJID not an integer": ~objid_ok,
        "RA outside [0, 360)": ~((values["RA"] >= 0.0) & (values["RA"] < 360.0)),
        "|DEC| > 90 or NaN": ~(np.abs(values["DEC"]) <= 90.0),
        "MAGCAL <= 0 or NaN": ~(values["MAGCAL"] > 0.0) | np.isinf(values["MAGCAL"]),
        "MAGERR < 0 or NaN": ~(values["MAGERR"] >= 0.0) | np.isinf(values["MAGERR"]),
        "EFLAG not a non-negative integer": ~((values["EFLAG"] >= 0.0) & _is_integral(values["EFLAG"])),
        "ELLIPTY outside [0, 1]": (values["ELLIPTY"] < 0.0) | (values["ELLIPTY"] > 1.0),
    }
    bad = np.logical_or.reduce(list(checks.values())) if n_rows else np.zeros(0, dtype=bool)
    n_rejected = int(bad.sum())
    if n_rejected:
        reasons = ", ".join(f"{reason}: {int(mask.sum())}" for reason, mask in checks.items() if mask.any())
        location = f"{where.file}" + (f" HDU {where.hdu}" if where.hdu else "")
        log.warning("%s: dropped %d of %d rows (%s)", location, n_rejected, n_rows, reasons)
    keep = ~bad
    kept = {name: values[name][keep] for name in ("X", "Y", "RA", "DEC", "MAGCAL", "MAGERR", "ELLIPTY")}
    kept["OBJID"] = objid[keep]
    kept["EFLAG"] = values["EFLAG"][keep].astype(np.int64)
    return _Part(seq[keep], kept, n_rejected)


def _numeric(name: str, column: tuple[Any, Any], where: _Where) -> NDArray[np.float64]:
    data, unit = column
    if np.ndim(data) != 1:
        raise where.error("not a one-value-per-row column", column=name)
    values = float_values(data, file=where.file, hdu=where.hdu, column_name=name)
    if name in ("RA", "DEC"):
        values = values * unit_scale(unit, "deg", file=where.file, hdu=where.hdu, column=name)
    return values


def _integer_ids(data: Any, where: _Where) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """OBJID as int64 without a float round trip for integer columns (ids can exceed 2**53)."""
    masked = np.ma.asarray(data)
    missing = np.ma.getmaskarray(masked)
    if masked.dtype.kind in "iub":
        return np.ma.filled(masked, 0).astype(np.int64), ~missing
    values = float_values(data, file=where.file, hdu=where.hdu, column_name="OBJID")
    ok = _is_integral(values) & (np.abs(values) < 2.0**62)
    return np.where(ok, values, 0.0).astype(np.int64), ok


def _is_integral(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values == np.floor(values))


def _detection_table(parts: list[_Part]) -> Table:
    """One table of every detection, ordered R0..R3, B0..B3 and by input row within a sequence."""
    seq = np.concatenate([part.seq for part in parts]) if parts else np.zeros(0, dtype="U2")
    order = np.argsort(_seq_ranks(seq), kind="stable")
    columns: dict[str, Any] = {"SEQ": seq[order].astype("U2")}
    for name in DETECTION_COLUMNS[1:]:
        dtype = np.int64 if name in ("OBJID", "EFLAG") else np.float64
        merged = np.concatenate([part.columns[name] for part in parts]) if parts else np.zeros(0)
        columns[name] = merged.astype(dtype)[order]
    table = Table(columns)
    table["RA"].unit = table["DEC"].unit = "deg"
    return table


def _seq_ranks(seq: NDArray[np.str_]) -> NDArray[np.intp]:
    """Position of each (known) sequence name in FSC order, vectorised."""
    names = np.array(SEQUENCES)
    sorter = np.argsort(names)
    return sorter[np.searchsorted(names, seq, sorter=sorter)]


def _as_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _maglim(value: Any) -> float:
    number = _as_float(value)
    return math.nan if number is None else number


def _clean_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    return text or None


def write_srclist(
    path: str | Path,
    band: str,
    tables: Mapping[str, Table],
    infos: Mapping[str, SequenceInfo],
    burst_id: str | None = None,
) -> Path:
    """Write one band's QSRCLIST_VT in exactly the layout :func:`read_srclists` reads.

    ``band`` is 'R'/'B' (or 'VT_R'/'VT_B'); ``tables`` maps each sequence of that band to its detections
    (X, Y and ELLIPTY may be absent: written as NaN); ``infos`` gives MAGLIM, DATE-OBS and EXPOSURE.
    """
    code = _BAND_CODES.get(band.strip().upper())
    if code is None:
        raise ValueError(f"band {band!r} is not R, B, VT_R or VT_B")
    foreign = [seq for seq in tables if seq not in _SEQ_RANK or seq[0] != code]
    if foreign:
        raise ValueError(f"sequences {foreign} do not belong to band {BAND_NAMES[code]}")
    primary = fits.PrimaryHDU()
    if burst_id:
        primary.header["BURST_ID"] = (burst_id, "Burst identifier")
    hdus = [primary] + [
        _findch_hdu(seq, tables[seq], infos.get(seq, SequenceInfo(seq))) for seq in SEQUENCES if seq in tables
    ]
    path = Path(path)
    fits.HDUList(hdus).writeto(path, overwrite=True, checksum=True)
    return path


def _findch_hdu(seq: str, table: Table, info: SequenceInfo) -> Any:
    n_rows = len(table)
    columns = []
    for name, (tform, unit) in _FITS_LAYOUT.items():
        if name not in table.colnames and name not in OPTIONAL_COLUMNS:
            raise ValueError(f"table of {seq} lacks column {name}")
        dtype = np.int64 if tform == "K" else np.float64
        values = np.asarray(table[name], dtype=dtype) if name in table.colnames else np.full(n_rows, np.nan)
        columns.append(fits.Column(name=name, format=tform, unit=unit, array=values))
    hdu = fits.BinTableHDU.from_columns(columns, name=f"{FINDCH_PREFIX}{seq}")
    header = hdu.header
    header["BAND"] = (BAND_NAMES[seq[0]], "VT channel")
    header["NTH"] = (int(seq[1:]), "Sequence index (0-based)")
    if math.isfinite(info.maglim):
        header["MAGLIM"] = (float(info.maglim), "Limiting magnitude (AB)")
    if info.date_obs:
        header["DATE-OBS"] = (info.date_obs, "Start of the stack (UTC)")
    if info.exposure_s is not None:
        header["EXPOSURE"] = (float(info.exposure_s), "[s] Exposure time of the stack")
    return hdu
