"""QPO_MXT reader, writer and the command-line position."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from astropy.io import fits
from expect import raises_with
from fitsverify import fitsverify

from vtac.adapters.mxt import MxtRow, parse_mxt_position, read_qpo_mxt, write_qpo_mxt
from vtac.core.records import MxtPosition
from vtac.errors import InputError


def extension(name: str, ra, dec, r90, known, *, units=("deg", "deg", "arcsec")) -> fits.BinTableHDU:
    """A QPO_MXT extension built by hand, with chosen TUNITs (None: no TUNIT)."""
    columns = [
        fits.Column("RA", "D", unit=units[0], array=np.asarray(ra, dtype=float)),
        fits.Column("DEC", "D", unit=units[1], array=np.asarray(dec, dtype=float)),
        fits.Column("R90", "D", unit=units[2], array=np.asarray(r90, dtype=float)),
        fits.Column("KNOWN_SOURCE", "I", array=np.asarray(known, dtype=np.int16)),
    ]
    return fits.BinTableHDU.from_columns(columns, name=name)


def assert_position(position: MxtPosition | None, ra: object, dec: object, r90_arcsec: object) -> None:
    """``position == MxtPosition(ra, dec, r90_arcsec)``, where ra/dec/r90 may be pytest.approx values.

    MxtPosition's float fields are not typed to hold those, so the three are compared on their own and the
    other fields (mission, instrument, origin) against the defaults.
    """
    assert position is not None
    assert (position.ra, position.dec, position.r90_arcsec) == (ra, dec, r90_arcsec)
    assert position == MxtPosition(position.ra, position.dec, position.r90_arcsec)


def write(path, *hdus, card="QPO_MXT"):
    primary = fits.PrimaryHDU()
    if card:
        primary.header["CARD"] = card
    fits.HDUList([primary, *hdus]).writeto(path)
    return path


def test_round_trip_picks_the_smallest_r90_that_is_not_a_known_source(tmp_path):
    path = write_qpo_mxt(
        tmp_path / "mxt.fits",
        [
            [MxtRow(150.0, 2.0, 120.0)],
            [(150.01, 2.01, 30.0, 1), (150.02, 2.02, 45.0, 0)],  # the 30" one is a catalogued X-ray source
            [MxtRow(150.03, 2.03, 60.0)],
        ],
        burst_id="sb25041901",
    )
    position = read_qpo_mxt(path).position
    assert_position(position, pytest.approx(150.02), pytest.approx(2.02), pytest.approx(45.0))
    with fits.open(path) as hdul:
        assert hdul[0].header["CARD"] == "QPO_MXT" and hdul[0].header["BURST_ID"] == "sb25041901"
        assert [hdu.name for hdu in hdul[1:]] == ["QPO_MXT_S1", "QPO_MXT_S2", "QPO_MXT_S3"]
        assert all(hdul[n].columns["R90"].unit for n in (1, 2, 3))
    warnings, errors, report = fitsverify(path)
    assert (warnings, errors) == (0, 0), report


def test_missing_and_empty_extensions_are_allowed(tmp_path):
    path = write_qpo_mxt(tmp_path / "mxt.fits", [None, [], [MxtRow(10.0, -5.0, 20.0)]])
    assert_position(read_qpo_mxt(path).position, 10.0, -5.0, pytest.approx(20.0))
    with fits.open(path) as hdul:
        assert [hdu.name for hdu in hdul[1:]] == ["QPO_MXT_S2", "QPO_MXT_S3"]


def test_only_known_sources_gives_none_and_says_why(tmp_path, caplog):
    path = write_qpo_mxt(tmp_path / "mxt.fits", [[MxtRow(10.0, -5.0, 20.0, 1)], []])
    with caplog.at_level(logging.INFO, logger="vtac.adapters.mxt"):
        assert read_qpo_mxt(path).position is None
    assert "QPO_MXT_S1: 1 of 1 rows are known X-ray sources" in caplog.text
    assert "no usable MXT position" in caplog.text and "the MXT filter is off" in caplog.text


def test_no_extension_at_all_gives_none(tmp_path, caplog):
    path = write(tmp_path / "bare.fits")
    with caplog.at_level(logging.WARNING, logger="vtac.adapters.mxt"):
        assert read_qpo_mxt(path).position is None
    assert "no QPO_MXT_S1/QPO_MXT_S2/QPO_MXT_S3 extension" in caplog.text


def test_invalid_rows_are_skipped(tmp_path, caplog):
    hdu = extension(
        "QPO_MXT_S1", [10.0, 400.0, 11.0, 12.0], [0.0, 0.0, 0.0, 95.0], [5.0, 6.0, np.nan, 1.0], [0] * 4
    )
    hdu2 = extension("QPO_MXT_S2", [13.0], [1.0], [0.0], [0])
    with caplog.at_level(logging.WARNING, logger="vtac.adapters.mxt"):
        position = read_qpo_mxt(write(tmp_path / "m.fits", hdu, hdu2)).position
    assert position == MxtPosition(10.0, 0.0, 5.0)
    assert "QPO_MXT_S1: 3 rows with invalid RA/DEC/R90 skipped" in caplog.text


@pytest.mark.parametrize(
    ("unit", "value", "arcsec"),
    [
        ("arcsec", 45.0, 45.0),
        ("arcmin", 0.75, 45.0),
        ("deg", 0.0125, 45.0),
        ("rad", np.radians(0.0125), 45.0),
    ],
)
def test_r90_follows_its_tunit(tmp_path, unit, value, arcsec):
    path = write(
        tmp_path / "m.fits", extension("QPO_MXT_S1", [1.0], [2.0], [value], [0], units=("deg", "deg", unit))
    )
    position = read_qpo_mxt(path).position
    assert position is not None
    assert position.r90_arcsec == pytest.approx(arcsec)


def test_positions_in_radians_and_without_unit(tmp_path):
    hdu = extension(
        "QPO_MXT_S1", [np.radians(150.0)], [np.radians(-30.0)], [10.0], [0], units=("rad", "rad", "arcsec")
    )
    assert_position(
        read_qpo_mxt(write(tmp_path / "rad.fits", hdu)).position,
        pytest.approx(150.0),
        pytest.approx(-30.0),
        10.0,
    )
    hdu = extension("QPO_MXT_S1", [150.0], [-30.0], [10.0], [0], units=(None, None, "arcsec"))
    assert read_qpo_mxt(write(tmp_path / "deg.fits", hdu)).position == MxtPosition(150.0, -30.0, 10.0)


def test_r90_without_unit_is_refused_rather_than_guessed(tmp_path):
    path = write(
        tmp_path / "m.fits", extension("QPO_MXT_S2", [1.0], [2.0], [0.01], [0], units=("deg", "deg", None))
    )
    with raises_with(InputError, "file m.fits, HDU QPO_MXT_S2, column R90: no unit"):
        read_qpo_mxt(path)


def test_r90_with_a_non_angular_unit_is_an_error(tmp_path):
    path = write(
        tmp_path / "m.fits", extension("QPO_MXT_S1", [1.0], [2.0], [0.01], [0], units=("deg", "deg", "s"))
    )
    with raises_with(InputError, "HDU QPO_MXT_S1, column R90: unit 's' cannot be converted to arcsec"):
        read_qpo_mxt(path)


def test_missing_column_names_file_hdu_and_column(tmp_path):
    hdu = fits.BinTableHDU.from_columns(
        [fits.Column("RA", "D", unit="deg", array=[1.0]), fits.Column("DEC", "D", unit="deg", array=[2.0]),
         fits.Column("R90", "D", unit="arcsec", array=[3.0])],
        name="QPO_MXT_S3",
    )  # fmt: skip
    with raises_with(InputError, "file m.fits, HDU QPO_MXT_S3, column KNOWN_SOURCE: required column"):
        read_qpo_mxt(write(tmp_path / "m.fits", hdu))


def test_wrong_product_card_missing_file_and_garbage(tmp_path):
    with raises_with(InputError, "HDU PRIMARY: CARD = 'QPO_ECL', not QPO_MXT"):
        read_qpo_mxt(write(tmp_path / "ecl.fits", card="QPO_ECL"))
    assert read_qpo_mxt(
        write(tmp_path / "nocard.fits", extension("QPO_MXT_S1", [1], [2], [3], [0]), card=None)
    ).position
    with raises_with(InputError, "no such file"):
        read_qpo_mxt(tmp_path / "absent.fits")
    (tmp_path / "junk.fits").write_text("not fits at all" * 200)
    with raises_with(InputError, "file junk.fits: not a FITS file"):
        read_qpo_mxt(tmp_path / "junk.fits")


def test_an_image_where_a_table_should_be_is_an_error(tmp_path):
    path = write(tmp_path / "img.fits", fits.ImageHDU(np.zeros((2, 2)), name="QPO_MXT_S1"))
    with raises_with(InputError, "HDU QPO_MXT_S1: not a table extension"):
        read_qpo_mxt(path)


def test_writer_takes_at_most_three_extensions(tmp_path):
    with raises_with(ValueError, "at most 3"):
        write_qpo_mxt(tmp_path / "m.fits", [[], [], [], []])


def test_command_line_position_is_parsed_in_degrees_and_arcsec():
    assert parse_mxt_position("150.5, -2.25,45") == MxtPosition(150.5, -2.25, 45.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("150.5,-2.25", "expected RA,DEC,R90_ARCSEC"),
        ("150.5,-2.25,45,1", "expected RA,DEC,R90_ARCSEC"),
        ("abc,-2.25,45", "RA, DEC and R90 must be numbers"),
        ("360,0,45", "RA 360.0 outside [0, 360)"),
        ("nan,0,45", "RA nan outside"),
        ("10,-91,45", "DEC -91.0 outside [-90, 90]"),
        ("10,0,0", "R90 0.0 must be a positive radius in arcsec"),
        ("10,0,inf", "R90 inf must be a positive radius"),
    ],
)
def test_command_line_position_errors_are_clear(text, message):
    with raises_with(InputError, f"MXT position '{text}': {message}"):
        parse_mxt_position(text)
