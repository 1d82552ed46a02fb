"""QSRCLIST_VT reader and writer: layout, validation, dropped rows, units and hand-made lists."""

from __future__ import annotations

import gzip
import logging
import math

import numpy as np
import pytest
from astropy.io import fits, votable
from astropy.table import Table
from expect import raises_with
from fitsverify import fitsverify

from vtac.adapters.srclist import read_srclists, write_srclist
from vtac.core.records import DETECTION_COLUMNS, SequenceInfo
from vtac.errors import InputError

RNG = np.random.default_rng(20250419)


def detections(n: int = 20, first_id: int = 1) -> Table:
    """A plausible VT detection list near (150, +2)."""
    return Table(
        {
            "OBJID": np.arange(first_id, first_id + n),
            "X": RNG.uniform(60, 410, n),
            "Y": RNG.uniform(60, 410, n),
            "RA": RNG.uniform(149.9, 150.1, n),
            "DEC": RNG.uniform(1.9, 2.1, n),
            "MAGCAL": RNG.uniform(14, 23, n),
            "MAGERR": RNG.uniform(0.01, 0.3, n),
            "EFLAG": RNG.integers(0, 4, n),
            "ELLIPTY": RNG.uniform(0, 0.5, n),
        }
    )


def info(seq: str, maglim: float = 23.0) -> SequenceInfo:
    return SequenceInfo(seq, maglim, f"2025-04-19T10:0{seq[1]}:00", 300.0)


def write_band(path, band: str, seqs: tuple[str, ...] = (), n: int = 20, burst_id: str | None = "sb25041901"):
    seqs = seqs or tuple(f"{band}{i}" for i in range(4))
    tables = {seq: detections(n, first_id=100 * i) for i, seq in enumerate(seqs)}
    write_srclist(path, band, tables, {seq: info(seq) for seq in seqs}, burst_id=burst_id)
    return tables


def findch(
    seq: str, table: Table, band: str | None = None, nth: int | None = None, **units
) -> fits.BinTableHDU:
    """A FINDCH HDU built by hand, for layouts the writer never produces."""
    hdu = fits.BinTableHDU(table, name=f"FINDCH_{seq}")
    hdu.header["BAND"] = band if band is not None else {"R": "VT_R", "B": "VT_B"}[seq[0]]
    hdu.header["NTH"] = nth if nth is not None else int(seq[1])
    for column, unit in units.items():
        hdu.header[f"TUNIT{table.colnames.index(column) + 1}"] = unit
    return hdu


def write_hdus(path, *hdus, burst_id: str | None = None):
    primary = fits.PrimaryHDU()
    if burst_id:
        primary.header["BURST_ID"] = burst_id
    fits.HDUList([primary, *hdus]).writeto(path, overwrite=True)
    return path


# --- FITS products -----------------------------------------------------------------------------------------


def test_round_trip_of_both_bands_gives_the_documented_table(tmp_path):
    red = write_band(tmp_path / "r.fits", "R")
    blue = write_band(tmp_path / "b.fits", "B")
    obs = read_srclists([tmp_path / "b.fits", tmp_path / "r.fits"])
    assert obs.detections.colnames == list(DETECTION_COLUMNS)
    assert [obs.detections[c].dtype.kind for c in DETECTION_COLUMNS] == list("Uiffffffif")
    assert obs.sequences_used == ["R0", "R1", "R2", "R3", "B0", "B1", "B2", "B3"]
    assert list(obs.detections["SEQ"][::20]) == obs.sequences_used  # FSC order, whatever the file order
    assert obs.sequences["B2"] == info("B2")
    assert obs.burst_id == "sb25041901"
    assert obs.origins == ["b.fits", "r.fits"]
    assert obs.n_rejected == 0
    got = obs.detections[obs.detections["SEQ"] == "B1"]
    for column in DETECTION_COLUMNS[1:]:
        np.testing.assert_array_equal(got[column], blue["B1"][column])
    np.testing.assert_array_equal(obs.detections["OBJID"][:20], red["R0"]["OBJID"])


def test_both_bands_in_one_file_and_a_subset_of_sequences(tmp_path):
    write_band(tmp_path / "r.fits", "R", ("R0", "R2"))
    write_band(tmp_path / "b.fits", "B", ("B1",))
    with fits.open(tmp_path / "r.fits") as red, fits.open(tmp_path / "b.fits") as blue:
        merged = fits.HDUList([red[0].copy(), *(hdu.copy() for hdu in red[1:]), blue[1].copy()])
        merged.writeto(tmp_path / "both.fits")
    obs = read_srclists([tmp_path / "both.fits"])
    assert obs.sequences_used == ["R0", "R2", "B1"]
    assert len(obs.detections) == 60
    assert obs.sequences["R2"].maglim == 23.0


def test_the_same_sequence_twice_across_files_is_an_error_naming_both(tmp_path):
    write_band(tmp_path / "r1.fits", "R", ("R0", "R1"))
    write_band(tmp_path / "r2.fits", "R", ("R1",))
    with raises_with(InputError, "file r2.fits, HDU FINDCH_R1: sequence R1 given twice (also in r1"):
        read_srclists([tmp_path / "r1.fits", tmp_path / "r2.fits"])


def test_the_same_sequence_twice_in_one_file_is_an_error(tmp_path):
    path = write_hdus(tmp_path / "dup.fits", findch("R0", detections()), findch("R0", detections()))
    with raises_with(InputError, "HDU FINDCH_R0: sequence R0 given twice in this file"):
        read_srclists([path])


def test_burst_id_comes_from_the_first_file_that_has_it_and_must_agree(tmp_path):
    write_band(tmp_path / "r.fits", "R", burst_id=None)
    write_band(tmp_path / "b.fits", "B", burst_id="sb25041901")
    assert read_srclists([tmp_path / "r.fits", tmp_path / "b.fits"]).burst_id == "sb25041901"
    assert read_srclists([tmp_path / "r.fits"]).burst_id is None
    write_band(tmp_path / "b.fits", "B", burst_id="sb25041902")
    write_band(tmp_path / "r.fits", "R", burst_id="sb25041901")
    with raises_with(InputError, "file b.fits: BURST_ID 'sb25041902' differs from 'sb25041901' of r.fits"):
        read_srclists([tmp_path / "r.fits", tmp_path / "b.fits"])


@pytest.mark.parametrize("column", ["OBJID", "RA", "MAGERR", "EFLAG"])
def test_a_missing_required_column_names_file_hdu_and_column(tmp_path, column):
    table = detections()
    table.remove_column(column)
    path = write_hdus(tmp_path / "cut.fits", findch("B3", table))
    with raises_with(InputError, f"file cut.fits, HDU FINDCH_B3, column {column}: required column"):
        read_srclists([path])


def test_optional_columns_may_be_absent_and_become_nan(tmp_path):
    table = detections()
    table.remove_columns(["X", "Y", "ELLIPTY"])
    obs = read_srclists([write_hdus(tmp_path / "lean.fits", findch("R0", table))])
    assert len(obs.detections) == 20
    assert np.isnan(obs.detections["X"]).all() and np.isnan(obs.detections["ELLIPTY"]).all()
    assert math.isnan(obs.sequences["R0"].maglim) and obs.sequences["R0"].date_obs is None


@pytest.mark.parametrize(
    ("band", "nth", "message"),
    [
        ("VT_V", 0, "header BAND = 'VT_V' is not VT_R or VT_B"),
        ("VT_B", 0, "header BAND = 'VT_B', NTH = 0 name sequence B0, not R0"),
        ("VT_R", 1, "header BAND = 'VT_R', NTH = 1 name sequence R1, not R0"),
        ("VT_R", "one", "header NTH = 'one' is not an integer"),
    ],
)
def test_band_and_nth_headers_must_agree_with_extname(tmp_path, band, nth, message):
    path = write_hdus(tmp_path / "bad.fits", findch("R0", detections(), band=band, nth=nth))
    with raises_with(InputError, f"file bad.fits, HDU FINDCH_R0: {message}"):
        read_srclists([path])


def test_missing_band_or_nth_header_and_unknown_sequence(tmp_path):
    hdu = findch("R0", detections())
    del hdu.header["BAND"]
    with raises_with(InputError, "HDU FINDCH_R0: header BAND missing"):
        read_srclists([write_hdus(tmp_path / "a.fits", hdu)])
    hdu = findch("R0", detections())
    del hdu.header["NTH"]
    with raises_with(InputError, "HDU FINDCH_R0: header NTH missing"):
        read_srclists([write_hdus(tmp_path / "b.fits", hdu)])
    with raises_with(InputError, "HDU FINDCH_R7: unknown sequence 'R7'"):
        read_srclists([write_hdus(tmp_path / "c.fits", findch("R7", detections(), nth=7))])
    image = fits.ImageHDU(np.zeros((4, 4)), name="FINDCH_B0")
    with raises_with(InputError, "HDU FINDCH_B0: not a binary table"):
        read_srclists([write_hdus(tmp_path / "d.fits", image)])


def test_non_physical_rows_are_dropped_and_counted(tmp_path, caplog):
    table = detections(12)
    table["OBJID"] = np.arange(12.0)  # a float id column is fine while the values are integers
    table["EFLAG"] = table["EFLAG"].astype(float)
    bad_values = [
        ("RA", 360.0),
        ("RA", -0.5),
        ("DEC", 91.0),
        ("DEC", np.nan),
        ("MAGCAL", 0.0),
        ("MAGCAL", np.nan),
        ("MAGERR", -0.01),
        ("EFLAG", 2.5),
        ("EFLAG", -1.0),
        ("ELLIPTY", 1.2),
        ("OBJID", 3.5),
    ]
    for row, (column, value) in enumerate(bad_values):
        table[column][row] = value
    table["ELLIPTY"][11] = np.nan  # unknown ellipticity is not a reason to lose a detection
    with caplog.at_level(logging.WARNING, logger="vtac.adapters.srclist"):
        obs = read_srclists([write_hdus(tmp_path / "dirty.fits", findch("R0", table))])
    assert obs.n_rejected == len(bad_values)
    assert list(obs.detections["OBJID"]) == [11]
    assert "dirty.fits HDU FINDCH_R0: dropped 11 of 12 rows" in caplog.text
    assert "MAGCAL <= 0 or NaN: 2" in caplog.text


def test_any_numeric_dtype_is_accepted(tmp_path):
    table = detections()
    for column, dtype in [
        ("OBJID", np.int16),
        ("RA", np.float32),
        ("EFLAG", np.uint8),
        ("MAGERR", np.float32),
    ]:
        table[column] = table[column].astype(dtype)
    obs = read_srclists([write_hdus(tmp_path / "types.fits", findch("B0", table))])
    assert obs.detections["OBJID"].dtype == np.int64 and obs.detections["EFLAG"].dtype == np.int64
    np.testing.assert_allclose(obs.detections["RA"], table["RA"], rtol=1e-7)


def test_text_column_is_an_error_naming_the_column(tmp_path):
    table = detections()
    table["MAGCAL"] = table["MAGCAL"].astype(str)
    with raises_with(InputError, "HDU FINDCH_R0, column MAGCAL: not numeric"):
        read_srclists([write_hdus(tmp_path / "text.fits", findch("R0", table))])


def test_tunit_radians_are_converted_to_degrees(tmp_path):
    table = detections()
    degrees = np.array(table["RA"]), np.array(table["DEC"])
    table["RA"], table["DEC"] = np.radians(degrees[0]), np.radians(degrees[1])
    obs = read_srclists([write_hdus(tmp_path / "rad.fits", findch("R1", table, RA="rad", DEC="rad"))])
    np.testing.assert_allclose(obs.detections["RA"], degrees[0], rtol=1e-12)
    np.testing.assert_allclose(obs.detections["DEC"], degrees[1], rtol=1e-12)


def test_a_position_unit_that_is_not_an_angle_is_an_error(tmp_path):
    path = write_hdus(tmp_path / "unit.fits", findch("R1", detections(), DEC="mag"))
    with raises_with(InputError, "HDU FINDCH_R1, column DEC: unit 'mag' cannot be converted to deg"):
        read_srclists([path])


def test_tnull_and_scaled_columns(tmp_path):
    """An integer TNULL marks a missing EFLAG (row dropped); a TSCAL-scaled MAGCAL reads at its real value."""
    table = detections(5)
    mags = np.array([15.123, 16.5, 17.25, 18.0, 19.999])
    columns = [
        fits.Column("OBJID", "J", array=np.arange(5)),
        fits.Column("RA", "D", array=table["RA"]),
        fits.Column("DEC", "D", array=table["DEC"]),
        fits.Column("MAGCAL", "J", array=np.round(mags * 1000).astype(np.int32)),
        fits.Column("MAGERR", "E", array=table["MAGERR"]),
        fits.Column("EFLAG", "I", null=-1, array=np.array([0, -1, 3, 0, 1])),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="FINDCH_B2")
    hdu.header["BAND"], hdu.header["NTH"] = "VT_B", 2
    path = write_hdus(tmp_path / "scaled.fits", hdu)
    with fits.open(path, mode="update") as hdul:  # scale the stored integers: MAGCAL = 0.001 * raw
        hdul[1].header.insert("TFORM4", ("TSCAL4", 0.001), after=True)
    obs = read_srclists([path])
    assert obs.n_rejected == 1
    assert list(obs.detections["OBJID"]) == [0, 2, 3, 4]
    np.testing.assert_allclose(obs.detections["MAGCAL"], mags[[0, 2, 3, 4]], atol=1e-9)


def test_tnull_on_the_fast_path_drops_the_row(tmp_path):
    columns = [
        fits.Column("OBJID", "K", null=-99999, array=np.array([1, -99999, 3])),
        fits.Column("RA", "D", array=np.array([1.0, 2.0, 3.0])),
        fits.Column("DEC", "D", array=np.zeros(3)),
        fits.Column("MAGCAL", "E", array=np.full(3, 20.0)),
        fits.Column("MAGERR", "E", array=np.full(3, 0.1)),
        fits.Column("EFLAG", "B", array=np.zeros(3, dtype=np.uint8)),
        fits.Column("NOTE", "8A", array=np.array(["a", "b", "c"])),
    ]
    hdu = fits.BinTableHDU.from_columns(columns, name="FINDCH_R3")
    hdu.header["BAND"], hdu.header["NTH"] = "VT_R", 3
    obs = read_srclists([write_hdus(tmp_path / "null.fits", hdu)])
    assert list(obs.detections["OBJID"]) == [1, 3] and obs.n_rejected == 1


def test_gzipped_product_is_read(tmp_path):
    write_band(tmp_path / "r.fits", "R", ("R0",))
    (tmp_path / "r.fits.gz").write_bytes(gzip.compress((tmp_path / "r.fits").read_bytes()))
    assert read_srclists([tmp_path / "r.fits.gz"]).sequences_used == ["R0"]


def test_missing_unreadable_and_truncated_files(tmp_path):
    with raises_with(InputError, "nowhere.fits: no such file"):
        read_srclists([tmp_path / "nowhere.fits"])
    (tmp_path / "junk.fits").write_text("this is not FITS" * 300)
    with raises_with(InputError, "file junk.fits: not a FITS file"):
        read_srclists([tmp_path / "junk.fits"])
    write_band(tmp_path / "r.fits", "R", ("R0",), n=500)
    (tmp_path / "cut.fits").write_bytes((tmp_path / "r.fits").read_bytes()[:9000])
    with raises_with(InputError, "file cut.fits, HDU 1: file truncated"):
        read_srclists([tmp_path / "cut.fits"])
    (tmp_path / "noend.fits").write_bytes((tmp_path / "r.fits").read_bytes()[:4000])
    with raises_with(InputError, "file noend.fits, HDU 1: header has no END card"):
        read_srclists([tmp_path / "noend.fits"])
    (tmp_path / "list.txt").write_text("RA DEC\n")
    with raises_with(InputError, "file list.txt: unknown table format"):
        read_srclists([tmp_path / "list.txt"])
    with raises_with(InputError, "no QSRCLIST_VT file given"):
        read_srclists([])


def test_fits_without_findch_or_table_is_an_error(tmp_path):
    path = write_hdus(tmp_path / "img.fits", fits.ImageHDU(np.zeros((3, 3)), name="QIM1B_R0"))
    with raises_with(InputError, "file img.fits: no FINDCH_<seq> extension"):
        read_srclists([path])


# --- Writer ------------------------------------------------------------------------------------------------


def test_writer_refuses_sequences_of_the_other_band_and_unknown_bands(tmp_path):
    with raises_with(ValueError, "sequences ['B0'] do not belong to band VT_R"):
        write_srclist(tmp_path / "x.fits", "R", {"B0": detections()}, {})
    with raises_with(ValueError, "band 'V'"):
        write_srclist(tmp_path / "x.fits", "V", {}, {})
    table = detections()
    table.remove_column("MAGERR")
    with raises_with(ValueError, "table of R0 lacks column MAGERR"):
        write_srclist(tmp_path / "x.fits", "VT_R", {"R0": table}, {})


def test_writer_output_is_a_valid_fsc_layout(tmp_path):
    table = detections()
    table.remove_columns(["X", "Y"])
    write_srclist(tmp_path / "r.fits", "R", {"R1": table}, {"R1": SequenceInfo("R1")})
    with fits.open(tmp_path / "r.fits") as hdul:
        header = hdul["FINDCH_R1"].header
        assert (header["BAND"], header["NTH"]) == ("VT_R", 1)
        assert "MAGLIM" not in header and "DATE-OBS" not in header  # unknown values are not invented
        assert hdul["FINDCH_R1"].columns.names == [
            "OBJID",
            "X",
            "Y",
            "RA",
            "DEC",
            "MAGCAL",
            "MAGERR",
            "EFLAG",
            "ELLIPTY",
        ]
        assert hdul["FINDCH_R1"].columns["RA"].unit == "deg"
    write_band(tmp_path / "b.fits", "B")
    for path in (tmp_path / "r.fits", tmp_path / "b.fits"):
        warnings, errors, report = fitsverify(path)
        assert (warnings, errors) == (0, 0), report


# --- Hand-made lists ---------------------------------------------------------------------------------------


def handmade(seqs=("R0", "B1"), n: int = 5) -> Table:
    parts = []
    for seq in seqs:
        part = detections(n)
        part["SEQ"] = seq
        parts.append(part)
    from astropy.table import vstack

    return vstack(parts)


def test_ecsv_list_with_seq_column_and_metadata(tmp_path):
    table = handmade(("B1", "R0"))
    table.meta.update(
        {"BURST_ID": "sb25041901", "MAGLIM": 22.8, "MAGLIM_B1": 23.4, "EXPOSURE": {"R0": 150.0}}
    )
    table.meta["DATE-OBS"] = "2025-04-19T10:00:00"
    table.write(tmp_path / "hand.ecsv")
    obs = read_srclists([tmp_path / "hand.ecsv"])
    assert obs.sequences_used == ["R0", "B1"]
    assert list(obs.detections["SEQ"]) == ["R0"] * 5 + ["B1"] * 5
    assert obs.sequences["R0"] == SequenceInfo("R0", 22.8, "2025-04-19T10:00:00", 150.0)
    assert obs.sequences["B1"] == SequenceInfo("B1", 23.4, "2025-04-19T10:00:00", None)
    assert obs.burst_id == "sb25041901" and obs.origins == ["hand.ecsv"]


def test_csv_list_with_band_and_nth_columns(tmp_path):
    table = handmade(("R2", "B0"))
    table["BAND"] = [("VT_R" if seq == "R2" else "b") for seq in table["SEQ"]]
    table["NTH"] = [int(seq[1]) for seq in table["SEQ"]]
    table.remove_column("SEQ")
    table["MAGCAL"][0] = -1.0
    table.write(tmp_path / "hand.csv")
    obs = read_srclists([tmp_path / "hand.csv"])
    assert obs.sequences_used == ["R2", "B0"]
    assert math.isnan(obs.sequences["B0"].maglim)  # CSV has no metadata: limit unknown
    assert obs.n_rejected == 1 and len(obs.detections) == 9


def test_csv_with_empty_cells_drops_those_rows(tmp_path):
    text = (
        "SEQ,OBJID,RA,DEC,MAGCAL,MAGERR,EFLAG\n"
        "R0,1,10.0,5.0,20.1,0.05,0\n"
        "R0,2,10.1,5.1,,0.05,0\n"
        "R0,3,10.2,5.2,19.0,0.05,\n"
    )
    (tmp_path / "gaps.csv").write_text(text)
    obs = read_srclists([tmp_path / "gaps.csv"])
    assert list(obs.detections["OBJID"]) == [1] and obs.n_rejected == 2


def test_votable_list_takes_params_as_metadata(tmp_path):
    document = votable.tree.VOTableFile.from_table(handmade(("R3",)))
    resource_table = document.get_first_table()
    resource_table.params.append(
        votable.tree.Param(document, name="MAGLIM", datatype="double", value="23.1", ID="MAGLIM")
    )
    resource_table.params.append(
        votable.tree.Param(document, name="BURST_ID", datatype="char", arraysize="*", value="sb25041901")
    )
    document.to_xml(str(tmp_path / "hand.vot"))
    obs = read_srclists([tmp_path / "hand.vot"])
    assert obs.sequences["R3"].maglim == pytest.approx(23.1)
    assert obs.burst_id == "sb25041901" and len(obs.detections) == 5


def test_handmade_fits_table_without_findch(tmp_path):
    table = handmade(("B3",))
    table.meta["MAGLIM"] = 23.2
    table.write(tmp_path / "hand.fits")
    obs = read_srclists(str(tmp_path / "hand.fits"))  # a single path is accepted as well as a list
    assert obs.sequences_used == ["B3"] and obs.sequences["B3"].maglim == 23.2
    table["SEQ"][2] = "X9"
    table.write(tmp_path / "bad.fits", overwrite=True)
    with raises_with(
        InputError, "file bad.fits, HDU 1, column SEQ, row 3: value 'X9' is not a known sequence"
    ):
        read_srclists([tmp_path / "bad.fits"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.__setitem__("SEQ", ["R0"] * 4 + ["V1"] * 6),
            "column SEQ, row 5: value 'V1' is not a known sequence",
        ),
        (lambda t: t.remove_column("SEQ"), "column SEQ: a SEQ column, or BAND and NTH columns, are required"),
        (lambda t: t.remove_column("MAGCAL"), "column MAGCAL: required column missing"),
    ],
)
def test_handmade_list_errors_name_the_column_and_row(tmp_path, change, message):
    table = handmade(("R0", "B1"))
    change(table)
    table.write(tmp_path / "bad.ecsv")
    with raises_with(InputError, f"file bad.ecsv, {message}"):
        read_srclists([tmp_path / "bad.ecsv"])


def test_band_and_nth_values_are_checked_per_row(tmp_path):
    table = handmade(("R0",), n=3)
    table.remove_column("SEQ")
    table["BAND"], table["NTH"] = ["VT_R", "VT_V", "VT_R"], [0, 0, 0]
    table.write(tmp_path / "band.csv")
    with raises_with(InputError, "file band.csv, column BAND, row 2: value 'VT_V' is not VT_R or VT_B"):
        read_srclists([tmp_path / "band.csv"])
    table["BAND"], table["NTH"] = ["R", "R", "R"], [0.0, 1.5, 0.0]
    table.write(tmp_path / "nth.csv")
    with raises_with(InputError, "file nth.csv, column NTH, row 2: value '1.5' is not an integer"):
        read_srclists([tmp_path / "nth.csv"])
    table["NTH"] = [0, 4, 0]
    table.write(tmp_path / "four.csv")
    with raises_with(InputError, "file four.csv, column NTH, row 2: value 'R4' is not a known sequence"):
        read_srclists([tmp_path / "four.csv"])


def test_empty_handmade_list_is_an_error(tmp_path):
    (tmp_path / "empty.csv").write_text("SEQ,OBJID,RA,DEC,MAGCAL,MAGERR,EFLAG\n")
    with raises_with(InputError, "file empty.csv: no detection rows"):
        read_srclists([tmp_path / "empty.csv"])
