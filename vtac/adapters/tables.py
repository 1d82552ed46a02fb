"""Helpers shared by the input readers: file format from the name, one-table reading, column lookup, units.

Every reader turns what can go wrong with a user's file into one :class:`~vtac.errors.InputError` line that
names the file, the HDU and the column, so the helpers here take that location and raise with it.
"""

from __future__ import annotations

import logging
import re
import warnings
import zlib
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

from vtac.errors import InputError

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


def read_table_file(path: Path) -> TableFile:
    """Read the single table of an ECSV, CSV, VOTable or FITS file (the first table HDU for FITS)."""
    fmt = table_format(path)
    if fmt == VOTABLE:
        return read_votable(path)
    if fmt == FITS:
        return _read_fits_table(path)
    try:
        table = Table.read(path, format="ascii.ecsv" if fmt == ECSV else "csv")
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"unreadable {fmt.upper()} table ({_short(exc)})", file=path.name) from exc
    return TableFile(table, dict(table.meta))


def _read_fits_table(path: Path) -> TableFile:
    try:
        with fits.open(path, memmap=False) as hdul:
            for hdu in hdul[1:]:
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    table = Table.read(hdu)
                    return TableFile(table, dict(hdu.header), hdu=hdu.name or None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(f"unreadable FITS file ({_short(exc)})", file=path.name) from exc
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
        raise InputError(f"unreadable VOTable ({_short(exc)})", file=path.name) from exc
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


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


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
    data = np.ma.asarray(column)
    if data.dtype.kind not in "iufb":
        raise InputError(f"not numeric (dtype {data.dtype})", file=file, hdu=hdu, column=column_name)
    return np.ma.filled(data.astype(np.float64), np.nan)


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


# --- Fast FITS access -------------------------------------------------------------------------------------
# astropy's FITS layer costs ~3 ms per BINTABLE HDU (header cards, column objects, FITS_rec); the source lists
# have up to 8 small HDUs and must read in a few ms. Here fixed-format header cards are parsed directly and
# plain scalar columns are viewed straight from the bytes with numpy. Anything unusual (scaled, vector or
# variable-length columns) falls back to astropy through RawHdu.to_astropy().

FITS_BLOCK = 2880
_CARD = 80
_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])")
_TFORM_WIDTH = {
    "L": 1,
    "B": 1,
    "I": 2,
    "J": 4,
    "K": 8,
    "A": 1,
    "E": 4,
    "D": 8,
    "C": 8,
    "M": 16,
    "P": 8,
    "Q": 16,
}
_TFORM_DTYPE = {"L": "u1", "B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
_STRING_VALUE = re.compile(r"'((?:[^']|'')*)'")
_INTEGER_VALUE = re.compile(r"[+-]?\d+")


def parse_header(header_bytes: bytes) -> dict[str, Any]:
    """Keyword -> value of the fixed-format cards of a FITS header (first occurrence wins, like astropy).

    Strings lose their quotes and trailing blanks, T/F become bool, integers int, reals float; anything else
    (complex values, free-format oddities) stays the raw text. Commentary cards and HIERARCH are skipped.
    """
    text = header_bytes.decode("ascii", "replace")
    values: dict[str, Any] = {}
    for start in range(0, len(text), _CARD):
        card = text[start : start + _CARD]
        keyword = card[:8].rstrip()
        if keyword == "END":
            break
        if card[8:10] == "= " and keyword not in values:
            values[keyword] = _card_value(card[10:])
    return values


def _card_value(field_text: str) -> Any:
    stripped = field_text.strip()
    if stripped.startswith("'"):
        match = _STRING_VALUE.match(stripped)
        return match.group(1).replace("''", "'").rstrip() if match else stripped
    value = stripped.split("/", 1)[0].strip()
    if value in ("T", "F"):
        return value == "T"
    if _INTEGER_VALUE.fullmatch(value):
        return int(value)
    try:
        return float(value.replace("D", "E"))
    except ValueError:
        return value or None


@dataclass
class RawHdu:
    """One HDU of a FITS file: its header values (see :func:`parse_header`) and its raw data bytes."""

    index: int
    header: dict[str, Any]
    header_bytes: bytes
    data: bytes

    @property
    def name(self) -> str:
        """EXTNAME in upper case; else 'PRIMARY' for the first HDU and the HDU number for the others."""
        name = str(self.header.get("EXTNAME", "")).strip().upper()
        return name or ("PRIMARY" if self.index == 0 else str(self.index))

    @property
    def is_bintable(self) -> bool:
        """True for a binary table extension."""
        return str(self.header.get("XTENSION", "")).strip().upper() == "BINTABLE"

    @property
    def column_names(self) -> list[str]:
        """TTYPE of every column, in order (empty for non-tables)."""
        count = int(self.header.get("TFIELDS", 0)) if self.is_bintable else 0
        return [str(self.header.get(f"TTYPE{n}", f"col{n}")).strip() for n in range(1, count + 1)]

    def to_astropy(self) -> Any:
        """The same HDU as an astropy HDU object, for layouts the fast path does not decode."""
        return fits.BinTableHDU.fromstring(self.header_bytes + self.data)


#: Default cap on a FITS file once decompressed: a real QSRCLIST_VT or QPO_MXT is well under 10 MB.
DEFAULT_MAX_FITS_BYTES = 256 * 1024 * 1024
#: NAXIS may be 0..999 (FITS standard 4.0, section 4.4.1.1).
MAX_NAXIS = 999
_BITPIX_VALUES = frozenset({8, 16, 32, 64, -32, -64})
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_CHUNK = 1 << 20


def read_fits_hdus(path: Path, *, max_bytes: int = DEFAULT_MAX_FITS_BYTES) -> list[RawHdu]:
    """Every HDU of a (possibly gzipped) FITS file; non-FITS, truncated or oversized: an input error."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"unreadable file ({_short(exc)})", file=path.name) from exc
    return fits_hdus(raw, path.name, max_bytes=max_bytes)


def fits_hdus(raw: bytes, file: str, *, max_bytes: int = DEFAULT_MAX_FITS_BYTES) -> list[RawHdu]:
    """The HDUs of FITS bytes (gzip allowed), every header value that sizes the data checked first.

    Bounded by construction: the decompressed size is capped at ``max_bytes``, and each HDU's data size is
    computed from validated NAXIS/NAXISn/BITPIX/PCOUNT/GCOUNT and must fit in the bytes actually present,
    so no header can make the reader loop, allocate or seek beyond the file.
    """
    raw = decompressed(raw, file, max_bytes=max_bytes)
    if not raw.startswith(b"SIMPLE  "):
        raise InputError("not a FITS file", file=file)
    hdus: list[RawHdu] = []
    offset = 0
    while offset < len(raw) and (not hdus or raw.startswith(b"XTENSION", offset)):
        hdu = str(len(hdus))
        header_end = _end_of_header(raw, offset, file, len(hdus))
        header_bytes = raw[offset:header_end]
        header = parse_header(header_bytes)
        size = data_size(header, file=file, hdu=hdu)
        data_end = header_end + size
        if data_end > len(raw):
            raise InputError("file truncated: data shorter than the header says", file=file, hdu=hdu)
        hdus.append(RawHdu(len(hdus), header, header_bytes, raw[header_end:data_end]))
        offset = header_end + -(-size // FITS_BLOCK) * FITS_BLOCK
        if offset > len(raw):
            raise InputError(
                f"file truncated inside the padding of this HDU ({len(raw)} bytes, "
                f"not a multiple of {FITS_BLOCK}): later HDUs may be missing",
                file=file,
                hdu=hdu,
            )
    return hdus


def decompressed(raw: bytes, file: str, *, max_bytes: int = DEFAULT_MAX_FITS_BYTES) -> bytes:
    """The bytes themselves, or their gzip decompression, refused beyond ``max_bytes`` (a gzip bomb)."""
    if not raw.startswith(_GZIP_MAGIC):
        if len(raw) > max_bytes:
            raise InputError(
                f"file of {len(raw)} bytes exceeds the limit max_fits_bytes={max_bytes}", file=file
            )
        return raw
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    chunks: list[bytes] = []
    total = 0
    try:
        for start in range(0, len(raw), _GZIP_CHUNK):
            pending = raw[start : start + _GZIP_CHUNK]
            while pending and not inflater.eof:
                chunk = inflater.decompress(pending, max_bytes + 1 - total)
                total += len(chunk)
                chunks.append(chunk)
                if total > max_bytes:
                    raise InputError(
                        f"gzip content exceeds the limit max_fits_bytes={max_bytes} once decompressed",
                        file=file,
                    )
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    except zlib.error as exc:
        raise InputError(f"unreadable gzip file ({_short(exc)})", file=file) from exc
    if not inflater.eof:
        raise InputError("unreadable gzip file (truncated)", file=file)
    return b"".join(chunks)


def _end_of_header(raw: bytes, offset: int, file: str, index: int) -> int:
    """Offset just after the header block that holds the END card."""
    position = offset
    while position + FITS_BLOCK <= len(raw):
        block = raw[position : position + FITS_BLOCK]
        position += FITS_BLOCK
        if any(block[card : card + 8] == b"END     " for card in range(0, FITS_BLOCK, _CARD)):
            return position
    raise InputError("header has no END card (truncated file?)", file=file, hdu=str(index))


def data_size(header: Mapping[str, Any], *, file: str, hdu: str) -> int:
    """Bytes of an HDU's data from its header, every value checked (type, sign, range), no loop over NAXIS
    beyond the 999 axes the standard allows, and the product stopped as soon as it is absurd.
    """

    def integer(keyword: str, default: int | None, low: int, high: int | None = None) -> int:
        value = header.get(keyword, default)
        if value is None:
            raise InputError(f"header {keyword} missing", file=file, hdu=hdu)
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (high and value > high):
            bound = f"{low}..{high}" if high is not None else f">= {low}"
            raise InputError(f"header {keyword} = {value!r} is not an integer in {bound}", file=file, hdu=hdu)
        return value

    naxis = integer("NAXIS", 0, 0, MAX_NAXIS)
    bitpix = header.get("BITPIX", 8)
    if bitpix not in _BITPIX_VALUES or isinstance(bitpix, bool):
        raise InputError(
            f"header BITPIX = {bitpix!r} is not one of 8, 16, 32, 64, -32, -64", file=file, hdu=hdu
        )
    if naxis == 0:
        return 0
    elements = 1
    for axis in range(1, naxis + 1):
        elements *= integer(f"NAXIS{axis}", None, 0)
        if elements > _ABSURD_SIZE:
            raise InputError("header NAXISn give a data size beyond any file", file=file, hdu=hdu)
    pcount = integer("PCOUNT", 0, 0, _ABSURD_SIZE)
    gcount = integer("GCOUNT", 1, 0, _ABSURD_SIZE)
    return abs(int(bitpix)) // 8 * gcount * (pcount + elements)


#: Past this many elements no header can describe a file we would read (the byte caps are far lower).
_ABSURD_SIZE = 1 << 40


def bintable_columns(hdu: RawHdu, names: Sequence[str]) -> dict[str, tuple[np.ma.MaskedArray, Any]] | None:
    """Columns ``names`` of a BINTABLE as masked arrays (integer TNULL masked) with their TUNIT.

    None when a requested column is not a plain scalar (vector, bit, complex, variable-length, TSCAL/TZERO):
    the caller then uses astropy.
    """
    header = hdu.header
    fields = _bintable_fields(hdu)
    if fields is None:
        return None
    width, n_rows = int(header.get("NAXIS1", 0)), int(header.get("NAXIS2", 0))
    columns = {}
    for name in names:
        number, code, repeat, start = fields[name]
        scaled = header.get(f"TSCAL{number}", 1) != 1 or header.get(f"TZERO{number}", 0) != 0
        if scaled or (code != "A" and (code not in _TFORM_DTYPE or repeat != 1)):
            return None
        dtype = np.dtype(f"S{repeat}") if code == "A" else np.dtype(_TFORM_DTYPE[code])
        raw = np.ndarray((n_rows,), dtype=dtype, buffer=hdu.data, offset=start, strides=(width,))
        columns[name] = (_decoded(raw, code, header.get(f"TNULL{number}")), header.get(f"TUNIT{number}"))
    return columns


def _bintable_fields(hdu: RawHdu) -> dict[str, tuple[int, str, int, int]] | None:
    """Column name -> (number, TFORM code, repeat, byte offset in a row); None for a layout not understood."""
    fields: dict[str, tuple[int, str, int, int]] = {}
    offset = 0
    for number, name in enumerate(hdu.column_names, start=1):
        match = _TFORM.match(str(hdu.header.get(f"TFORM{number}", "")))
        if match is None:
            return None
        repeat, code = int(match.group(1) or 1), match.group(2)
        fields.setdefault(name, (number, code, repeat, offset))
        offset += -(-repeat // 8) if code == "X" else repeat * _TFORM_WIDTH[code]
    return fields if offset == int(hdu.header.get("NAXIS1", 0)) else None


def _decoded(raw: NDArray[Any], code: str, null: Any) -> np.ma.MaskedArray:
    if code == "L":
        return np.ma.MaskedArray(raw == ord("T"), mask=raw == 0)
    if code == "A":
        return np.ma.MaskedArray(np.char.decode(np.char.rstrip(raw), "ascii", "replace"))
    values = raw.astype(raw.dtype.newbyteorder("="))
    mask = values == null if null is not None and code in "BIJK" else np.zeros(len(values), dtype=bool)
    return np.ma.MaskedArray(values, mask=mask)
