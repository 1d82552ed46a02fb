"""The raw FITS code against astropy, byte for byte where it matters: header cards, data, checksums."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from vtac.adapters.rawfits import (
    FITS_BLOCK,
    binary_table,
    bintable_columns,
    fits_card,
    fits_hdus,
    hdu_bytes,
    parse_header,
)
from vtac.core.schema import ColumnSpec

STAMP = "2025-02-05T04:30:00"
SPECS = (
    ColumnSpec("VT_ID", "K", "VT source number", tnull=-99999),
    ColumnSpec("RA", "D", "Right ascension (ICRS)", "deg"),
    ColumnSpec("FLAG", "L", "Flagged by the pipeline"),
    ColumnSpec("NAME", "12A", "Catalogue name"),
)
ARRAYS = {
    "VT_ID": np.array([1, -99999, 3, 2**40]),
    "RA": np.array([1.5, np.nan, 359.99999999, -0.0]),
    "FLAG": np.array([True, False, True, False]),
    "NAME": np.array([b"a", b"bb'c", b"", b"123456789012"], dtype="S12"),
}
#: Keywords of every kind the products carry: strings (quotes, long ones on CONTINUE), reals, ints, logicals.
KEYWORDS = [
    ("BURST_ID", "sb25010101", "Burst identifier"),
    ("RA_MXT", 212.6412345678901, "MXT position RA"),
    ("R90_MXT", 1e-5, "small real"),
    ("NSOURCE", 812, "number of sources"),
    ("XMATCHED", True, "catalogues asked"),
    ("CATMSG", "VizieR answered 'HTTP 503' twice; " * 4, "message"),
]


def _astropy_hdu() -> fits.BinTableHDU:
    """The same table made by astropy alone, comments set as ours (astropy has no column comments)."""
    columns = [
        fits.Column(
            name=spec.name, format=spec.tform, unit=spec.unit, null=spec.tnull, array=ARRAYS[spec.name]
        )
        for spec in SPECS
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="SOURCES")
    hdu.header.comments["EXTNAME"] = "Extension name"
    for number, spec in enumerate(SPECS, start=1):
        hdu.header.comments[f"TTYPE{number}"] = spec.comment
    for key, value, comment in KEYWORDS:
        hdu.header[key] = (value, comment)
    hdu.add_datasum(when=f"data unit checksum updated {STAMP}")
    return hdu


def _ours() -> bytes:
    return hdu_bytes(binary_table("SOURCES", SPECS, ARRAYS, KEYWORDS), STAMP)


def _cards_by_keyword(header_bytes: bytes) -> dict[str, list[bytes]]:
    cards: dict[str, list[bytes]] = {}
    for start in range(0, len(header_bytes), 80):
        card = header_bytes[start : start + 80]
        key = card[:8].decode().strip()
        if key == "END":
            break
        cards.setdefault(key, []).append(card)
    return cards


def _astropy_file_bytes(hdu: fits.BinTableHDU) -> bytes:
    stream = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(stream)
    return stream.getvalue()[FITS_BLOCK:]


def test_every_header_card_is_the_card_astropy_writes():
    ours = _cards_by_keyword(_ours())
    theirs = _cards_by_keyword(_astropy_file_bytes(_astropy_hdu()))
    assert ours.pop("CHECKSUM") and theirs.pop("CHECKSUM", None) is None  # compared below, by astropy
    assert ours == theirs
    assert list(ours)[:8] == [
        "XTENSION",
        "BITPIX",
        "NAXIS",
        "NAXIS1",
        "NAXIS2",
        "PCOUNT",
        "GCOUNT",
        "TFIELDS",
    ]


def test_the_data_unit_and_its_datasum_are_astropys_byte_for_byte():
    ours = _ours()
    theirs = _astropy_file_bytes(_astropy_hdu())
    header_end = len(ours) - FITS_BLOCK  # four short rows: one data block, zero-padded
    assert len(ours) == len(theirs) and len(ours) % FITS_BLOCK == 0
    assert ours[header_end:] == theirs[header_end:]


def test_astropy_verifies_our_checksum_and_a_changed_byte_breaks_it():
    data = fits.PrimaryHDU().header.tostring().encode() + _ours()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # astropy warns on a checksum mismatch
        with fits.open(io.BytesIO(data), checksum=True) as hdul:
            assert hdul[1].header["DATASUM"] == _astropy_hdu().header["DATASUM"]
    broken = bytearray(data)
    broken[-FITS_BLOCK] ^= 1
    with pytest.warns(Warning, match="(Checksum|Datasum) verification failed"):
        fits.open(io.BytesIO(bytes(broken)), checksum=True).close()


def test_the_reader_sees_the_values_and_columns_astropy_sees():
    raw = fits.PrimaryHDU().header.tostring().encode() + _astropy_file_bytes(_astropy_hdu())
    primary, table = fits_hdus(raw, "made_by_astropy.fits")
    with fits.open(io.BytesIO(raw)) as hdul:
        expected = {key: value for key, value in hdul[1].header.items() if key not in ("", "CONTINUE")}
        data = hdul[1].data
        assert parse_header(table.header_bytes) == expected | {"CATMSG": table.header["CATMSG"]}
        assert table.header["CATMSG"].startswith("VizieR answered 'HTTP 503' twice;")  # first CONTINUE part
        columns = bintable_columns(table, [spec.name for spec in SPECS])
        assert columns is not None and primary.name == "PRIMARY" and table.name == "SOURCES"
        ids, unit = columns["VT_ID"]
        assert ids.mask.tolist() == [False, True, False, False] and unit is None
        assert ids.compressed().tolist() == [value for value in data["VT_ID"].tolist() if value != -99999]
        assert np.array_equal(columns["RA"][0], data["RA"], equal_nan=True) and columns["RA"][1] == "deg"
        assert columns["FLAG"][0].tolist() == data["FLAG"].tolist()
        assert columns["NAME"][0].tolist() == data["NAME"].tolist()


_ASCII = st.characters(min_codepoint=32, max_codepoint=126)
_VALUES = st.one_of(
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.integers(-(2**63), 2**63 - 1).map(np.int64),
    st.floats(),
    st.floats(width=32).map(np.float32),
    st.text(_ASCII, max_size=90),
    st.text(max_size=12),  # anything: astropy refuses what is not printable ASCII
    st.booleans().map(np.bool_),
)


@settings(max_examples=3000, deadline=None)
@given(
    key=st.from_regex(r"[A-Z0-9_-]{1,8}", fullmatch=True)
    | st.sampled_from(["date-obs", "LONGKEYWORD", "DP1.AXIS"]),
    value=_VALUES,
    comment=st.text(_ASCII, max_size=80) | st.text(max_size=5),
)
def test_a_card_is_the_one_astropy_writes_or_astropy_refuses_it_alike(key, value, comment):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns when it cuts a comment; so must we, by calling it
        try:
            expected = fits.Card(key, value, comment).image
        except (ValueError, TypeError) as refused:
            with pytest.raises(type(refused)):
                fits_card(key, value, comment)
            return
        assert fits_card(key, value, comment) == expected
