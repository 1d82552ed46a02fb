"""The raw FITS code of VTAC, in one place: reading HDUs and columns from bytes, writing HDUs as bytes.

Why not astropy's FITS layer: it costs ~3 ms per BINTABLE HDU on reading (header cards, column objects,
FITS_rec) and ~60 ms per 80-column table on writing (``BinTableHDU.from_columns``' per-column bookkeeping);
the source lists must read in a few ms and a QPO_VT write in a few more (docs/architecture.md has the
measurements). Reading: fixed-format header cards are parsed directly and plain scalar columns are viewed
straight from the bytes with numpy; anything unusual (scaled, vector or variable-length columns) falls back
to astropy through :meth:`RawHdu.to_astropy`; every size a header gives is checked before use. Writing:
each table is one big-endian numpy record array, a fixed-format card of a standard keyword and a plain value
is formatted here exactly as :class:`astropy.io.fits.Card` formats it (the first Card of a process costs
tens of milliseconds of configuration look-ups, a one-off run's whole header ~0.03 s), anything else (long
strings on CONTINUE cards, HIERARCH keywords, values astropy refuses) by astropy itself, and the HDU bytes
with their CHECKSUM/DATASUM (the FITS checksum convention, ones'-complement sums over 32-bit words) are
assembled here.
tests/adapters/test_rawfits.py compares both directions with astropy byte for byte (header cards, data,
checksums).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.io.fits import Card
from numpy.typing import NDArray

from vtac.core.schema import ColumnSpec
from vtac.errors import InputError

# ------------------------------------------------------------------------------------------------ reading
FITS_BLOCK = 2880
CARD_LENGTH = Card.length  # characters of a header card
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
    for start in range(0, len(text), CARD_LENGTH):
        card = text[start : start + CARD_LENGTH]
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


def read_bytes(path: Path) -> bytes:
    """The content of an input file; an OSError is an input error naming it."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"unreadable file ({short_reason(exc)})", file=path.name) from exc


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
        if str(header.get("XTENSION", "")).strip().upper() == "BINTABLE":
            check_bintable_cards(header, file=file, hdu=hdu)
        hdus.append(RawHdu(len(hdus), header, header_bytes, raw[header_end:data_end]))
        offset = header_end + -(-size // FITS_BLOCK) * FITS_BLOCK
        if offset > len(raw):
            raise InputError(
                f"file truncated inside the padding of this HDU ({len(raw)} bytes, "
                f"not a multiple of {FITS_BLOCK}): later HDUs may be missing",
                file=file,
                hdu=hdu,
            )
        if raw[data_end:offset].strip(b"\0 "):
            raise InputError(_UNDERSTATED.format(where="in the padding of this HDU"), file=file, hdu=hdu)
    if raw[offset:].strip(b"\0 "):
        raise InputError(
            _UNDERSTATED.format(where=f"after the last HDU ({len(raw) - offset} bytes)"), file=file
        )
    return hdus


_UNDERSTATED = "data {where}: a header that understates its size (NAXIS2?) would drop them"


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
        raise InputError(f"unreadable gzip file ({short_reason(exc)})", file=file) from exc
    if not inflater.eof:
        raise InputError("unreadable gzip file (truncated)", file=file)
    return b"".join(chunks)


def _end_of_header(raw: bytes, offset: int, file: str, index: int) -> int:
    """Offset just after the header block that holds the END card (at most ``MAX_HEADER_BLOCKS`` blocks)."""
    position = offset
    while position + FITS_BLOCK <= len(raw):
        if position - offset >= MAX_HEADER_BLOCKS * FITS_BLOCK:
            raise InputError(
                f"header longer than {MAX_HEADER_BLOCKS} blocks ({MAX_HEADER_BLOCKS * 36} cards) without END",
                file=file,
                hdu=str(index),
            )
        block = raw[position : position + FITS_BLOCK]
        position += FITS_BLOCK
        if any(block[card : card + 8] == b"END     " for card in range(0, FITS_BLOCK, CARD_LENGTH)):
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
#: TFIELDS may be 0..999 (FITS standard 4.0, section 7.3.1).
MAX_TFIELDS = 999
#: Longest header read (36,000 cards): 999 columns with their TTYPE/TFORM/TUNIT/TNULL/TDISP fit 5 times.
MAX_HEADER_BLOCKS = 1000
_TFORM_CARD = re.compile(r"^\s*(\d{0,9})([LXBIJKAEDCM]|[PQ][LXBIJKAEDCM]?)")


def check_bintable_cards(header: Mapping[str, Any], *, file: str, hdu: str) -> None:
    """Refuse a BINTABLE header whose column cards cannot describe its rows, before anything reads them:
    NAXIS must be 2, TFIELDS an integer in 0..999, every TFORMn a known type, and the column widths must
    add up to NAXIS1 (so no reader loops over absurd column counts or views rows of the wrong width).
    """
    if header.get("NAXIS") != 2:
        raise InputError(
            f"header NAXIS = {header.get('NAXIS')!r} is not 2 for a binary table", file=file, hdu=hdu
        )
    count = header.get("TFIELDS")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_TFIELDS:
        raise InputError(
            f"header TFIELDS = {count!r} is not an integer in 0..{MAX_TFIELDS}", file=file, hdu=hdu
        )
    width = 0
    for number in range(1, count + 1):
        tform = header.get(f"TFORM{number}")
        match = _TFORM_CARD.match(tform) if isinstance(tform, str) else None
        if match is None:
            raise InputError(
                f"header TFORM{number} = {tform!r} is not a binary table format", file=file, hdu=hdu
            )
        repeat, code = int(match.group(1) or 1), match.group(2)[0]
        width += -(-repeat // 8) if code == "X" else repeat * _TFORM_WIDTH[code]
    if width != header.get("NAXIS1"):
        raise InputError(
            f"header NAXIS1 = {header.get('NAXIS1')!r} differs from the {width} bytes its TFORMn give a row",
            file=file,
            hdu=hdu,
        )


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
        raw = (
            np.ndarray((n_rows,), dtype=dtype, buffer=hdu.data, offset=start, strides=(width,))
            if n_rows
            else np.zeros(0, dtype=dtype)  # an empty table: no bytes to view, and a valid sequence
        )
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


def short_reason(exc: BaseException) -> str:
    """The first line of an exception's text, at most 200 characters (for a one-line input error)."""
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


# ------------------------------------------------------------------------------------------------ writing
BLOCK = FITS_BLOCK
_CHECKSUM_PLACEHOLDER = "0" * 16
_CHECKSUM_EXCLUDED = frozenset(b":;<=>?@[\\]^_`")

Keyword = tuple[str, Any, str]
#: A keyword astropy writes as it is on a fixed-format card (not HIERARCH, not record-valued).
_STANDARD_KEYWORD = re.compile(r"^[A-Z0-9_-]{1,8}$")
_QUOTE = "'"


@dataclass
class Hdu:
    """One HDU before serialisation: header cards (without CHECKSUM, DATASUM, END) and the raw data."""

    name: str
    header: str
    data: bytes = b""


def binary_table(
    name: str, specs: tuple[ColumnSpec, ...], arrays: Mapping[str, np.ndarray], keywords: Sequence[Keyword]
) -> Hdu:
    """Pack the columns into FITS rows (big-endian, no padding) and build the BINTABLE header."""
    dtype = np.dtype([(spec.name, fits_dtype(spec.tform)) for spec in specs])
    n_rows = len(next(iter(arrays.values()))) if arrays else 0
    rows = np.empty(n_rows, dtype=dtype)
    for spec in specs:
        values = arrays[spec.name]
        rows[spec.name] = np.where(values, b"T", b"F") if spec.tform == "L" else values
    mandatory: list[Keyword] = [
        ("XTENSION", "BINTABLE", "binary table extension"),
        ("BITPIX", 8, "array data type"),
        ("NAXIS", 2, "number of array dimensions"),
        ("NAXIS1", dtype.itemsize, "length of dimension 1"),
        ("NAXIS2", n_rows, "length of dimension 2"),
        ("PCOUNT", 0, "number of group parameters"),
        ("GCOUNT", 1, "number of groups"),
        ("TFIELDS", len(specs), "number of table fields"),
        ("EXTNAME", name, "Extension name"),
        *keywords,
    ]
    return Hdu(name=name, header=cards(mandatory) + column_cards(specs), data=rows.tobytes())


@lru_cache(maxsize=16)
def column_cards(specs: tuple[ColumnSpec, ...]) -> str:
    """TTYPEn/TFORMn/TUNITn/TNULLn cards of a column layout (cached: the layouts are fixed)."""
    keywords: list[Keyword] = []
    for index, spec in enumerate(specs, start=1):
        keywords.append((f"TTYPE{index}", spec.name, spec.comment))
        keywords.append((f"TFORM{index}", spec.tform, ""))
        if spec.unit:
            keywords.append((f"TUNIT{index}", spec.unit, ""))
        if spec.tnull is not None:
            keywords.append((f"TNULL{index}", spec.tnull, ""))
    return cards(keywords)


def fits_dtype(tform: str) -> str:
    """The big-endian numpy dtype of a TFORM the writer uses (K, D, L, nA)."""
    kind = tform[-1]
    return {"K": ">i8", "D": ">f8", "L": "S1"}.get(kind) or f"S{tform[:-1]}"


def fits_bytes(hdus: list[Hdu], stamp: str) -> bytes:
    """The HDUs as the bytes of one FITS file; ``stamp`` (UTC) goes in the CHECKSUM/DATASUM comments."""
    names = [hdu.name for hdu in hdus[1:]]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate extension names: {', '.join(duplicates)}")
    return b"".join(hdu_bytes(hdu, stamp) for hdu in hdus)


def hdu_bytes(hdu: Hdu, stamp: str) -> bytes:
    """Header and data blocks of one HDU, with DATASUM and a CHECKSUM that makes the HDU sum to -0."""
    data = _padded(hdu.data, b"\0")
    datasum = _ones_complement_sum(data)
    checksum_card = fits_card("CHECKSUM", _CHECKSUM_PLACEHOLDER, f"HDU checksum updated {stamp}")
    datasum_card = fits_card("DATASUM", str(datasum), f"data unit checksum updated {stamp}")
    header = _padded((hdu.header + checksum_card + datasum_card + "END").encode("ascii"), b" ")
    checksum = _encode_checksum(~_ones_complement_sum(header, datasum) & 0xFFFFFFFF)
    position = len(hdu.header) + checksum_card.index(_CHECKSUM_PLACEHOLDER)
    header = header[:position] + checksum.encode("ascii") + header[position + 16 :]
    return header + data


def cards(keywords: Iterable[Keyword]) -> str:
    """The header cards of ``(keyword, value, comment)`` triples, as one string."""
    return "".join(card_image(key, value, comment) for key, value, comment in keywords)


@lru_cache(maxsize=4096)
def card_image(key: str, value: Any, comment: str) -> str:
    """One card; a comment too long for it is cut at a word (astropy would cut mid-word, with a warning).

    Cached: most cards (TTYPE, TFORM, TUNIT of 80 columns) are the same in every product.
    """
    bare = fits_card(key, value, "")
    if not comment:
        return bare
    if len(bare) > CARD_LENGTH:  # a long string goes on CONTINUE cards, the comment on the last one
        return fits_card(key, value, comment)
    room = CARD_LENGTH - max(len(bare.rstrip()), 30) - len(" / ")
    return fits_card(key, value, _cut_at_word(comment, room)) if room > 0 else bare


def fits_card(key: str, value: Any, comment: str) -> str:
    """The card astropy writes: formatted here when it fits one fixed-format card, else by astropy."""
    text = _plain_value(value)
    if text is None or not _STANDARD_KEYWORD.match(key) or not _printable(comment):
        return Card(key, value, comment).image
    image = f"{key:8}= {text}" + (f" / {comment}" if comment.rstrip() else "")  # as astropy: blank is none
    return f"{image:80}" if len(image) <= CARD_LENGTH else Card(key, value, comment).image


def _plain_value(value: Any) -> str | None:
    """A value as astropy's fixed format writes it (``_format_value``), None for what astropy alone
    handles (non-finite or complex numbers, non-printable strings, other types)."""
    if isinstance(value, (bool, np.bool_)):
        return f"{'T' if value else 'F':>20}"
    if isinstance(value, (int, np.integer)):
        return f"{value:>20d}"
    if isinstance(value, (float, np.floating)):
        return f"{_float_text(value):>20}" if np.isfinite(value) else None
    if isinstance(value, str) and _printable(value):
        if value == "":
            return "''"
        quoted = "'" + f"{value.replace(_QUOTE, _QUOTE * 2):8}" + "'"
        return f"{quoted:20}"
    return None


def _float_text(value: float | np.floating) -> str:
    """``str`` of the value, upper-case exponent, at most 20 characters (astropy's ``_format_float``)."""
    text = str(value).replace("e", "E")
    if len(text) <= 20:
        return text
    exponent = text.find("E")
    return text[:20] if exponent < 0 else text[: 20 - (len(text) - exponent)] + text[exponent:]


def _printable(text: str) -> bool:
    return text.isascii() and text.isprintable()


def _cut_at_word(text: str, room: int) -> str:
    if len(text) <= room:
        return text
    head = text[: room + 1]
    cut = head.rsplit(" ", 1)[0].rstrip(",;: ") if " " in head else ""
    return cut or text[:room]


def _padded(content: bytes, fill: bytes) -> bytes:
    return content + fill * (-len(content) % BLOCK)


def _ones_complement_sum(content: bytes, initial: int = 0) -> int:
    """32-bit ones'-complement sum of big-endian words (FITS checksum convention), vectorised."""
    words = np.frombuffer(content, dtype=">u4")
    high = (initial >> 16) + int(np.sum(words >> 16, dtype=np.uint64))
    low = (initial & 0xFFFF) + int(np.sum(words & 0xFFFF, dtype=np.uint64))
    while high >> 16 or low >> 16:
        high, low = (high & 0xFFFF) + (low >> 16), (low & 0xFFFF) + (high >> 16)
    return (high << 16) | low


def _encode_checksum(value: int) -> str:
    """The 16-character ASCII encoding of a 32-bit value (FITS checksum convention, no punctuation)."""
    encoded = [0] * 16
    for index in range(4):
        quotient, remainder = divmod((value >> (24 - 8 * index)) & 0xFF, 4)
        group = [quotient + 0x30] * 4
        group[0] += remainder
        while any(group[j] in _CHECKSUM_EXCLUDED or group[j + 1] in _CHECKSUM_EXCLUDED for j in (0, 2)):
            for j in (0, 2):
                if group[j] in _CHECKSUM_EXCLUDED or group[j + 1] in _CHECKSUM_EXCLUDED:
                    group[j] += 1
                    group[j + 1] -= 1
        for j in range(4):
            encoded[4 * j + index] = group[j]
    return bytes(encoded[-1:] + encoded[:-1]).decode("ascii")
