"""FITS writers of the VTAC products: QPO_VT (sources, catalogues, candidates) and QCANDI_VT (light curves).

Layouts follow the FSC data model as seen in the public header dumps (domain doc §4); the column specs come
from :mod:`vtac.core.schema`, so the writer never invents a column.

The bytes are written by the raw FITS writer (:mod:`vtac.adapters.rawfits`: astropy's
``BinTableHDU.from_columns`` spends ~60 ms per 80-column table in per-column bookkeeping, so a QPO_VT with a
6000-source COMBINED and a few 6000-row CAT_ tables took ~0.3 s); fitsverify and astropy check the result in
the tests. The products are bytes: the caller writes them (atomically) or uploads them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from vtac.adapters.rawfits import (
    CARD_LENGTH,
    Hdu,
    Keyword,
    binary_table,
    cards,
    fits_bytes,
    fits_card,
    fits_dtype,
)
from vtac.core.coverage import circle_off_field
from vtac.core.records import (
    ARCSEC,
    N_SEQ_PER_BAND,
    CatalogAnswer,
    CatalogStatus,
    QpoVtResult,
    SequenceInfo,
)
from vtac.core.schema import CANDIDATE_EXTRA_COLUMNS, CATALOG_COLUMNS, COMBINED_COLUMNS, ColumnSpec
from vtac.provenance import CodeVersion

if TYPE_CHECKING:
    from astropy.table import Table

#: FSC product data model version the layout follows (QCANDI_VT dump of the VTAC test data).
PRDM_VERSION = 1.12
DATA_LEVEL = "Q2"
#: A catalogue message longer than this is cut: the header must stay readable, the log has the rest.
MAX_MESSAGE_CHARS = 600
CANDIDATE_COLUMNS: tuple[ColumnSpec, ...] = COMBINED_COLUMNS + CANDIDATE_EXTRA_COLUMNS
LIGHT_CURVE_COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("DATE-OBS", "23A", "Stack start (ISO-8601 UTC), empty if unknown"),
    *(
        spec
        for band in ("R", "B")
        for spec in (
            ColumnSpec(f"MAG_{band}", "D", f"VT_{band} AB magnitude, NaN if not detected", "mag"),
            ColumnSpec(f"MAG_{band}_ERR", "D", f"Error of MAG_{band}", "mag"),
            ColumnSpec(f"MAG_{band}_LIM", "D", f"VT_{band} limiting magnitude of the sequence", "mag"),
        )
    ),
)


# ----------------------------------------------------------------------------------------------- public API
def qpo_vt_fits(
    result: QpoVtResult, *, code: CodeVersion, now: datetime | None = None, trigger_time: str | None = None
) -> bytes:
    """The QPO_VT product: primary, COMBINED, one CAT_<name> per catalogue asked, candidate tables."""
    moment = now or datetime.now(UTC)
    hdus = [
        _primary_hdu(result, "QPO_VT", code, moment, trigger_time),
        _table_from_result(
            result.combined,
            COMBINED_COLUMNS,
            "COMBINED",
            [
                ("R_XMATCH", result.association_radius_arcsec, "Combination crossmatch radius in arcsec"),
                *_mxt_keywords(result),
            ],
        ),
        *(
            _catalog_hdu(
                answer, result.catalog_tables.get(answer.name), result.catalog_depths.get(answer.name)
            )
            for answer in result.catalogs
        ),
        _table_from_result(result.candidates, CANDIDATE_COLUMNS, "CANDIDATES"),
        _table_from_result(result.best, CANDIDATE_COLUMNS, "BEST_CANDIDATES"),
    ]
    return fits_bytes(hdus, _format_utc(moment)[:19])


def qcandi_vt_fits(
    result: QpoVtResult, *, code: CodeVersion, now: datetime | None = None, trigger_time: str | None = None
) -> bytes:
    """The QCANDI_VT product: one 4-row light curve per best candidate (primary only if none)."""
    moment = now or datetime.now(UTC)
    hdus = [_primary_hdu(result, "QCANDI_VT", code, moment, trigger_time)]
    hdus += [_light_curve_hdu(result.best, row, result.sequences) for row in range(len(result.best))]
    return fits_bytes(hdus, _format_utc(moment)[:19])


def sequences_in_header_order(sequences: Iterable[str]) -> list[str]:
    """FSC ``SEQ_USED`` order: interleaved by index, blue first (``B0,R0,B1,R1,...``), present ones only."""
    present = set(sequences)
    return [
        f"{band}{nth}" for nth in range(N_SEQ_PER_BAND) for band in ("B", "R") if f"{band}{nth}" in present
    ]


def observation_span(sequences: Mapping[str, SequenceInfo]) -> tuple[str | None, str | None]:
    """(DATE-BEG, DATE-END) in ISO UTC: first stack start, last stack end; None where not known.

    The end needs the exposure of every stack that starts last: an end taken from an earlier stack would
    claim a span shorter than the observation.
    """
    starts = {name: _parse_utc(info.date_obs) for name, info in sequences.items()}
    known = {name: start for name, start in starts.items() if start is not None}
    if not known:
        return None, None
    latest = max(known.values())
    exposures = {name: sequences[name].exposure_s for name in known}
    if not all(_finite_positive(exposures[name]) for name, start in known.items() if start == latest):
        return _format_utc(min(known.values())), None
    end = max(
        start + timedelta(seconds=float(exposures[name] or 0.0))
        for name, start in known.items()
        if _finite_positive(exposures[name])
    )
    return _format_utc(min(known.values())), _format_utc(end)


# ----------------------------------------------------------------------------------------------- primary
def _primary_hdu(
    result: QpoVtResult, card: str, code: CodeVersion, now: datetime, trigger_time: str | None
) -> Hdu:
    """The FSC primary keywords, with a comment on every card and no empty-valued card."""
    keywords: list[Keyword] = [
        ("SIMPLE", True, "conforms to FITS standard"),
        ("BITPIX", 8, "array data type"),
        ("NAXIS", 0, "number of array dimensions"),
        ("EXTEND", True, "FITS dataset may contain extensions"),
        ("ORIGIN", "FSC", "Science Center"),
        ("TELESCOP", "SVOM", "Official acronym for the mission"),
        ("INSTRUME", "VT", "Instrument acronym"),
        ("CREATOR", "VTAC", "Pipeline that created or modified this file"),
        ("CARD", card, "Product card"),
        ("PROGRAM", "CoreProgram", "Mission program"),
        ("PRDM_VER", PRDM_VERSION, "Product Data Model Version"),
        ("PROC_VER", 0, "Processing Version"),
        ("PIP_VER", code.version, "Pipeline version"),
        ("VTACCOMM", code.commit, "Git commit of the VTAC code that made this file"),
        ("DSTREAM", "VHF", "Data stream"),
        ("DATE", _format_utc(now), "File creation date (ISO-8601 UTC)"),
        ("DP_LEVEL", DATA_LEVEL, "Data Product processing level"),
        *_time_span_keywords(result.sequences),
        ("RADESYS", "ICRS", "Celestial coordinate system"),
        ("PROCTYPE", "automatic", "Type of pipeline that generated this file"),
        ("BURST_ID", result.burst_id, "Alert identifier"),
        ("CATALOGS", ",".join(a.name for a in result.catalogs), "Name of catalogs used in the crossmatch"),
        ("SEQ_USED", ",".join(sequences_in_header_order(result.sequences)), "VT sequences used in algorithm"),
        ("N_CAND", len(result.best), "Number of candidates identified"),
        *_mxt_keywords(result),
        *([("TT_ECL", trigger_time, "Trigger time from ECLAIRs in UTC")] if trigger_time else []),
        ("NREJECT", result.n_rejected, "Input source rows rejected as unusable"),
        ("VERIFIED", result.verified, "At least one reference catalogue answered"),
        *_probability_keywords(result),
    ]
    return Hdu(name="PRIMARY", header=cards(keywords))


def _probability_keywords(result: QpoVtResult) -> list[Keyword]:
    """P_NONE, and what the probabilities cover without an X-ray position."""
    keywords: list[Keyword] = []
    if math.isfinite(result.p_none):
        keywords.append(("P_NONE", round(float(result.p_none), 6), "P(afterglow is none of the VT sources)"))
    if result.mxt is None:
        keywords.append(("XRAYPOS", False, "No X-ray position: P over the whole VT field"))
    return keywords


def _time_span_keywords(sequences: Mapping[str, SequenceInfo]) -> list[Keyword]:
    begin, end = observation_span(sequences)
    if begin is None:
        return []
    # The FSC template says TIMESYS='TT', but these dates are UTC; the FITS standard reads DATE-xxx in the
    # TIMESYS scale, so stating UTC is what keeps them right.
    keywords: list[Keyword] = [
        ("TIMESYS", "UTC", "Time scale of DATE-BEG and DATE-END"),
        ("DATE-BEG", begin, "Start of the first VT stack (ISO-8601 UTC)"),
    ]
    if end is not None:
        keywords.append(("DATE-END", end, "End of the last VT stack (ISO-8601 UTC)"))
    return keywords


def _mxt_keywords(result: QpoVtResult) -> list[Keyword]:
    if result.mxt is None:
        return []
    mxt = result.mxt
    off = circle_off_field(
        result.combined["RA"], result.combined["DEC"], mxt.ra, mxt.dec, mxt.r90_arcsec * ARCSEC
    )
    # MXT_* are the FSC's names whatever the mission; XRAYMISS/XRAYINST/XRAYORIG say whose circle it is.
    source = "QPO_MXT" if mxt.source == "SVOM/MXT" else f"{mxt.mission} {mxt.instrument}"
    keywords: list[Keyword] = [
        ("MXT_RA", mxt.ra, f"RA from {source} used for filtering in deg"),
        ("MXT_DEC", mxt.dec, f"Dec from {source} used for filtering in deg"),
        ("MXT_ERR", mxt.r90_arcsec * ARCSEC, f"R90 from {source} used for filtering in deg"),
        ("MXT_OFF", off is not None, "X-ray circle outside the VT field: check the position"),
        ("XRAYPOS", True, "An X-ray position filtered the VT sources"),
        ("XRAYMISS", mxt.mission, "Mission of the X-ray position used"),
        ("XRAYINST", mxt.instrument, "Instrument of the X-ray position used"),
    ]
    if mxt.origin:
        keywords.append(("XRAYORIG", mxt.origin, "Notice or product of the X-ray position"))
    return keywords


# ----------------------------------------------------------------------------------------------- tables
def _catalog_hdu(answer: CatalogAnswer, table: Table | None, depth: tuple[float, float] | None = None) -> Hdu:
    """CAT_<name>: the per-source match table when the catalogue answered, an empty one otherwise.

    The extension is written for every catalogue asked, so a reader can tell "no counterpart" (ok, rows)
    from "could not ask" (failed / not_covered, zero rows) without guessing from a missing HDU.
    """
    name = f"CAT_{answer.name}"
    if answer.status is CatalogStatus.OK and table is None:
        raise ValueError(f"HDU {name}: catalogue status is ok but no match table was given")
    message = _header_text(answer.message)
    keywords: list[Keyword] = [
        ("CATNAME", answer.name, "Reference catalogue"),
        ("CATSTAT", answer.status.value, "Query outcome: ok, failed or not_covered"),
    ]
    if len(fits_card("CATMSG", message, "")) > CARD_LENGTH:
        keywords.append(("LONGSTRN", "OGIP 1.0", "The OGIP long string convention may be used"))
    keywords += [
        ("CATMSG", message, "Message of the catalogue query"),
        ("NCATSRC", answer.n_sources, "Catalogue sources returned for the field"),
        ("TRUNCATD", answer.truncated, "Answer truncated at the service row limit"),
    ]
    if depth is not None:
        keywords += [
            (f"DEPTH_{band}", round(float(value), 3), f"Depth in VT_{band} measured in the field (AB)")
            for band, value in zip("RB", depth, strict=True)
            if math.isfinite(value)
        ]
    source = table if answer.status is CatalogStatus.OK else None
    return _table_from_result(source, CATALOG_COLUMNS, name, keywords)


def _table_from_result(
    table: Table | None, specs: Sequence[ColumnSpec], name: str, keywords: Sequence[Keyword] = ()
) -> Hdu:
    """A BINTABLE with exactly ``specs`` (in order) from ``table``; zero rows when ``table`` is None.

    Columns of ``table`` not in ``specs`` are ignored: the core may carry working columns.
    """
    arrays = {spec.name: _column_values(table, spec, name) for spec in specs}
    return binary_table(name, tuple(specs), arrays, keywords)


def _column_values(table: Table | None, spec: ColumnSpec, hdu: str) -> np.ndarray:
    """The column as the numpy array its TFORM needs; nulls kept as NaN / TNULL / ''."""
    kind = spec.tform[-1]
    if table is None:
        return np.zeros(0, dtype=bool if kind == "L" else fits_dtype(spec.tform))
    if spec.name not in table.columns:  # not ``colnames``: a new list per call, for each of ~300 columns
        raise ValueError(f"HDU {hdu}, column {spec.name}: missing from the result table")
    column = table[spec.name]
    values = np.asarray(
        column.filled(_fill_value(spec)) if getattr(column, "mask", None) is not None else column
    )
    if kind == "A":
        return _ascii_values(values, int(spec.tform[:-1]), spec.name, hdu)
    if kind == "L":
        return values.astype(bool)
    if kind == "K" and values.dtype.kind == "f":
        values = _float_to_int(values, spec, hdu)
    return values


def _fill_value(spec: ColumnSpec) -> Any:
    kind = spec.tform[-1]
    if kind == "A":
        return ""
    if kind == "K":
        return spec.tnull if spec.tnull is not None else 0
    return False if kind == "L" else math.nan


def _float_to_int(values: np.ndarray, spec: ColumnSpec, hdu: str) -> np.ndarray:
    missing = ~np.isfinite(values)
    if not missing.any():
        return values.astype(np.int64)
    if spec.tnull is None:
        raise ValueError(f"HDU {hdu}, column {spec.name}: non-finite value in a column without null")
    return np.where(missing, spec.tnull, values).astype(np.int64)


def _ascii_values(values: np.ndarray, width: int, column: str, hdu: str) -> np.ndarray:
    text = values.astype(str)
    # Only text whose type can hold more than ``width`` characters needs measuring.
    if text.size and text.dtype.itemsize > 4 * width and int(np.char.str_len(text).max()) > width:
        raise ValueError(f"HDU {hdu}, column {column}: value longer than {width} characters")
    try:
        return text.astype(f"S{width}")
    except UnicodeEncodeError as error:
        raise ValueError(f"HDU {hdu}, column {column}: non-ASCII text") from error


# ----------------------------------------------------------------------------------------------- QCANDI_VT
def _light_curve_hdu(best: Table, row: int, sequences: Mapping[str, SequenceInfo]) -> Hdu:
    """VT_ID_<id>: one row per sequence index (0..3), detections per band or the sequence's limit."""
    vt_id = int(best["VT_ID"][row])
    arrays: dict[str, np.ndarray] = {
        "DATE-OBS": np.array([_stack_start(sequences, nth) for nth in range(N_SEQ_PER_BAND)], dtype="S23")
    }
    for band in ("R", "B"):
        mags, errors, limits = _band_light_curve(best, row, band, sequences)
        arrays |= {f"MAG_{band}": mags, f"MAG_{band}_ERR": errors, f"MAG_{band}_LIM": limits}
    keywords: list[Keyword] = [
        ("RA", float(best["RA"][row]), "Right Ascension from VT in deg"),
        ("DEC", float(best["DEC"][row]), "Declination from VT in deg"),
        ("VT_ID", vt_id, "Unique VT identifier"),
    ]
    return binary_table(f"VT_ID_{vt_id}", LIGHT_CURVE_COLUMNS, arrays, keywords)


def _band_light_curve(
    best: Table, row: int, band: str, sequences: Mapping[str, SequenceInfo]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitudes, errors and limits of one band: NaN magnitude on non-detection, all NaN if not observed."""
    shape = (N_SEQ_PER_BAND,)
    mags, errors, limits = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
    for nth in range(N_SEQ_PER_BAND):
        seq = f"{band}{nth}"
        if seq not in sequences:
            continue
        limits[nth] = sequences[seq].maglim
        mags[nth] = best[f"MAGCAL_{seq}"][row]
        errors[nth] = best[f"MAGERR_{seq}"][row] if np.isfinite(mags[nth]) else np.nan
    return mags, errors, limits


def _stack_start(sequences: Mapping[str, SequenceInfo], nth: int) -> str:
    """Start of stack ``nth``: the R sequence's, else the B one's; '' if neither is known."""
    for band in ("R", "B"):
        info = sequences.get(f"{band}{nth}")
        start = _parse_utc(info.date_obs) if info is not None else None
        if start is not None:
            return _format_utc(start)
    return ""


# ----------------------------------------------------------------------------------------------- bytes


# ----------------------------------------------------------------------------------------------- helpers
def _parse_utc(value: str | None) -> datetime | None:
    """ISO date-time as naive UTC; None when absent or unreadable (the product then says "unknown")."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _format_utc(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss.sss`` (23 characters), the FSC date format; naive times are taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds")


def _finite_positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


def _header_text(message: str) -> str:
    """Printable ASCII only (FITS headers allow nothing else), cut to :data:`MAX_MESSAGE_CHARS`."""
    text = "".join(char if " " <= char <= "~" else "?" for char in " ".join(message.split()))
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."
