"""Local reference-catalogue files: VizieR names, formats, real VizieR responses, LS fluxes, errors."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from expect import raises_with, table_of
from paths import DATA

from vtac.adapters.catalog_file import read_catalog_file, read_catalog_table
from vtac.core.records import CatalogStatus
from vtac.errors import ConfigurationError, InputError


def ps1_table() -> Table:
    table = Table(
        {
            "objID": np.array([108001500123456789, 108001500123456790, 108001500123456791]),
            "RAJ2000": [150.0, 150.01, 150.02],
            "DEJ2000": [2.0, 2.01, 2.02],
        }
    )
    for offset, band in enumerate("grizy"):
        table[f"{band}mag"] = [18.0 + offset * 0.1, 19.0, 20.0]
        table[f"e_{band}mag"] = [0.01, 0.02, 0.03]
    table["RAJ2000"].unit = table["DEJ2000"].unit = "deg"
    return table


# --- Real VizieR responses ---------------------------------------------------------------------------------


def test_real_vizier_gaia_dr3_response():
    answer = read_catalog_file("GAIADR3", DATA / "readers_vizier_gaiadr3_mango.xml")
    assert answer.status is CatalogStatus.OK and answer.usable
    assert answer.truncated  # VizieR said QUERY_STATUS=OVERFLOW (out.max=5)
    table = table_of(answer)
    assert answer.n_sources == 5
    assert table["ID"][0] == "1816065554621487360"
    assert table["RA"][0] == pytest.approx(307.79115807079) and table["DEC"][0] == pytest.approx(
        20.43108005561
    )
    assert table["PMRA"][0] == pytest.approx(-2.557) and table["PMDEC"][0] == pytest.approx(-5.482)
    assert np.isnan(table["PMRA"][2])  # empty <TD> in the response
    assert (table["EPOCH"] == 2016.0).all()
    assert np.isnan(table["MAG_G"]).all()  # this request asked for no magnitude: missing stays NaN
    assert {"MAG_BP", "ERR_BP", "MAG_RP", "ERR_RP"} <= set(table.colnames)


def test_real_vizier_sdss_dr12_response():
    answer = read_catalog_file("SDSS12", DATA / "readers_vizier_sdss12.vot")
    table = table_of(answer)
    assert answer.n_sources == 50 and answer.truncated
    assert table["ID"][1] == "J025959.06+000020.2"  # no objID requested: the SDSS12 name is the id
    assert table["RA"][1] == pytest.approx(44.996116) and table["DEC"][1] == pytest.approx(0.005623)
    assert table["MAG_g"][1] == pytest.approx(18.186, abs=1e-5) and table["ERR_g"][1] == pytest.approx(0.006)
    assert table["MAG_u"][0] == pytest.approx(23.823, abs=1e-5)
    assert (table["CLASS"] == 3).sum() == 33 and (table["CLASS"] == 6).sum() == 17
    assert "PMRA" not in table.colnames and (table["EPOCH"] == 2000.0).all()
    assert "50 sources from readers_vizier_sdss12.vot" in answer.message and "OVERFLOW" in answer.message


def test_vizier_error_response_is_an_input_error(tmp_path):
    (tmp_path / "error.xml").write_text(
        '<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        '<INFO name="Error" value="The database is not currently reachable."/>'
        '<INFO name="QUERY_STATUS" value="ERROR"/><RESOURCE/></VOTABLE>'
    )
    with raises_with(InputError, "file error.xml: service error response: The database is not"):
        read_catalog_file("PS1DR1", tmp_path / "error.xml")


# --- Formats -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".fits", ".ecsv", ".csv", ".vot", ".xml", ".votable"])
def test_every_format_gives_the_same_answer(tmp_path, suffix):
    path = tmp_path / f"ps1{suffix}"
    fmt = {".ecsv": "ascii.ecsv", ".csv": "csv", ".fits": "fits"}.get(suffix, "votable")
    ps1_table().write(path, format=fmt)
    answer = read_catalog_file("PS1DR1", path)
    table = table_of(answer)
    assert table.colnames == ["ID", "RA", "DEC", "EPOCH"] + [
        f"{k}_{b}" for b in "grizy" for k in ("MAG", "ERR")
    ]
    assert list(table["ID"]) == ["108001500123456789", "108001500123456790", "108001500123456791"]
    assert table["MAG_i"][0] == pytest.approx(18.2) and table["ERR_y"][2] == pytest.approx(0.03)
    assert not answer.truncated and answer.message == f"3 sources from ps1{suffix}"


def test_unknown_format_missing_file_and_unknown_catalogue(tmp_path):
    (tmp_path / "cat.txt").write_text("ra dec\n1 2\n")
    with raises_with(InputError, "file cat.txt: unknown table format"):
        read_catalog_file("PS1DR1", tmp_path / "cat.txt")
    with raises_with(InputError, "no such file"):
        read_catalog_file("PS1DR1", tmp_path / "absent.csv")
    with raises_with(ConfigurationError, "unknown catalogue '2MASS'; known: GAIADR3, PS1DR1"):
        read_catalog_file("2MASS", tmp_path / "absent.csv")
    assert read_catalog_table("ps1dr1", ps1_table(), "memory").name == "PS1DR1"


def test_unreadable_files_are_input_errors(tmp_path):
    (tmp_path / "bad.fits").write_text("garbage" * 500)
    with raises_with(InputError, "file bad.fits: unreadable FITS file"):
        read_catalog_file("PS1DR1", tmp_path / "bad.fits")
    (tmp_path / "bad.vot").write_text("<VOTABLE><RESOURCE><TABLE>")
    with raises_with(InputError, "file bad.vot: unreadable VOTable"):
        read_catalog_file("PS1DR1", tmp_path / "bad.vot")
    (tmp_path / "bad.ecsv").write_text("# %ECSV 1.0\n# ---\n# datatype: [oops\nra dec\n")
    with raises_with(InputError, "file bad.ecsv: unreadable ECSV table"):
        read_catalog_file("PS1DR1", tmp_path / "bad.ecsv")
    Table({"a": [1]}).write(tmp_path / "image.fits")
    from astropy.io import fits

    fits.PrimaryHDU(np.zeros((2, 2))).writeto(tmp_path / "image.fits", overwrite=True)
    with raises_with(InputError, "file image.fits: no table extension"):
        read_catalog_file("PS1DR1", tmp_path / "image.fits")


# --- Column rules ------------------------------------------------------------------------------------------


def test_missing_position_column_names_file_and_column(tmp_path):
    table = ps1_table()
    table.remove_column("DEJ2000")
    table.write(tmp_path / "ps1.csv")
    with raises_with(InputError, "file ps1.csv, column DEJ2000: required column missing"):
        read_catalog_file("PS1DR1", tmp_path / "ps1.csv")


def test_text_positions_are_refused(tmp_path):
    table = Table({"RA_ICRS": ["10 00 00"], "DE_ICRS": ["+02 00 00"]})
    with raises_with(InputError, "file sexa, column RA_ICRS: not numeric"):
        read_catalog_table("SDSS12", table, "sexa")


def test_non_finite_positions_are_dropped_and_counted():
    table = ps1_table()
    table["RAJ2000"][0] = np.nan
    table["DEJ2000"][1] = 95.0
    answer = read_catalog_table("PS1DR1", table, "cone")
    assert list(table_of(answer)["ID"]) == ["108001500123456791"]
    assert answer.message == "1 sources from cone, 2 rows without a valid position dropped"


def test_column_lookup_ignores_case_and_punctuation():
    table = Table({"ra_icrs": [10.0], "de_icrs": [-5.0], "OBJID": [7], "GMAG": [17.5], "E_GMAG": [0.02]})
    result = table_of(read_catalog_table("SDSS12", table, "lower"))
    assert result["ID"][0] == "7" and result["MAG_g"][0] == 17.5 and result["ERR_g"][0] == 0.02
    assert result["CLASS"][0] == 0  # no class column: unknown
    assert np.isnan(result["MAG_u"][0])


def test_missing_values_and_sentinels_become_nan():
    table = ps1_table()
    table["gmag"] = MaskedColumn([18.0, 19.0, 20.0], mask=[False, True, False])
    table["rmag"] = [-999.0, 99.99, 19.5]
    table["e_imag"] = [-999.0, 0.02, 0.03]
    result = table_of(read_catalog_table("PS1DR1", table, "sentinels"))
    assert np.isnan(result["MAG_g"][1]) and np.isnan(result["ERR_g"][1])  # no error without a magnitude
    assert np.isnan(result["MAG_r"][:2]).all() and result["MAG_r"][2] == 19.5
    assert np.isnan(result["ERR_i"][0]) and result["ERR_i"][1] == 0.02


def test_a_fits_file_read_lazily_gives_the_same_rows(tmp_path):
    """The ingest maps a FITS file without astropy's masking of NaN and empty text: the normalised rows are
    those of the ordinary read, missing ids (TNULL), NaN and sentinels included, and wide files read narrow.
    """
    from vtac.adapters.catalog_file import normalise_catalog_table
    from vtac.adapters.tables import read_table_file

    table = ps1_table()
    table["objID"] = MaskedColumn(table["objID"], mask=[False, True, False])
    table["gmag"] = [18.0, np.nan, 20.0]
    table["rmag"] = [-999.0, 99.99, 19.5]
    table["e_imag"] = [-999.0, np.nan, 0.03]
    table["note"] = ["", "x", ""]  # a column the catalogue does not read
    path = tmp_path / "ps1.fits"
    table.write(path)
    read = {
        lazy: normalise_catalog_table("PS1DR1", read_table_file(path, lazy_fits=lazy).table, path.name)
        for lazy in (False, True)
    }
    assert read[True].columns.keys() == read[False].columns.keys()
    for name, values in read[False].columns.items():
        lazy_values = read[True].columns[name]
        np.testing.assert_array_equal(np.ma.filled(lazy_values, -1), np.ma.filled(values, -1), err_msg=name)
    assert table_of(read_catalog_file("PS1DR1", path))["ID"].tolist() == [
        "108001500123456789",
        "",
        "108001500123456791",
    ]


def test_an_answer_outlives_its_fits_file_being_rewritten(tmp_path):
    """The file is mapped while it is read: the answer must hold copies, so that a survey file replaced
    on disk (a new release, a re-ingest) leaves the answers already given as they were."""
    path = tmp_path / "ps1.fits"
    ps1_table().write(path)
    answer = table_of(read_catalog_file("PS1DR1", path))
    before = {name: np.array(answer[name]) for name in answer.colnames}
    size = path.stat().st_size
    with path.open("r+b") as rewritten:  # in place, as a copy over it would: a view would see it
        rewritten.write(b"\0" * size)
    for name, values in before.items():
        np.testing.assert_array_equal(np.array(answer[name]), values, err_msg=name)


def test_gaia_vizier_names_magnitudes_errors_from_fluxes_and_epoch():
    table = Table(
        {
            "Source": [1, 2],
            "RA_ICRS": [10.0, 10.1],
            "DE_ICRS": [20.0, 20.1],
            "pmRA": [5.0, np.nan],
            "pmDE": [-3.0, 1.0],
            "Gmag": [17.0, 18.0],
            "e_Gmag": [0.003, 0.004],
            "FBP": [1000.0, 500.0],
            "e_FBP": [10.0, 25.0],
            "BPmag": [17.5, 18.6],
            "RPmag": [16.4, 17.3],
            "Epoch": [2016.0, 2015.5],
        }
    )
    result = table_of(read_catalog_table("GAIADR3", table, "gaia"))
    assert list(result["MAG_G"]) == [17.0, 18.0] and list(result["ERR_G"]) == [0.003, 0.004]
    np.testing.assert_allclose(result["ERR_BP"], 1.0857362 * np.array([0.01, 0.05]), rtol=1e-6)
    assert np.isnan(result["ERR_RP"]).all()
    assert list(result["EPOCH"]) == [2016.0, 2015.5]
    assert result["PMRA"][0] == 5.0 and np.isnan(result["PMRA"][1])


def test_gaia_archive_names_are_accepted():
    table = Table(
        {
            "source_id": [42],
            "ra": [10.0],
            "dec": [20.0],
            "phot_g_mean_mag": [15.0],
            "phot_g_mean_flux_over_error": [500.0],
            "pmra": [1.0],
            "pmdec": [2.0],
            "ref_epoch": [2016.0],
        }
    )
    result = table_of(read_catalog_table("GAIADR3", table, "archive"))
    assert result["ID"][0] == "42" and result["MAG_G"][0] == 15.0
    assert result["ERR_G"][0] == pytest.approx(1.0857362 / 500.0)


def test_proper_motion_units_are_converted():
    table = Table({"Source": [1], "RA_ICRS": [10.0], "DE_ICRS": [20.0], "pmRA": [0.005], "pmDE": [-0.002]})
    table["pmRA"].unit = table["pmDE"].unit = "arcsec/yr"
    result = table_of(read_catalog_table("GAIADR3", table, "pm"))
    assert result["PMRA"][0] == pytest.approx(5.0) and result["PMDEC"][0] == pytest.approx(-2.0)


def test_positions_in_radians_are_converted():
    table = ps1_table()
    table["RAJ2000"] = np.radians(table["RAJ2000"])
    table["DEJ2000"] = np.radians(table["DEJ2000"])
    table["RAJ2000"].unit = table["DEJ2000"].unit = "rad"
    result = table_of(read_catalog_table("PS1DR1", table, "rad"))
    np.testing.assert_allclose(result["RA"], [150.0, 150.01, 150.02])


def test_usno_b1_has_no_errors_and_positions_at_j2000(tmp_path):
    table = Table(
        {
            "USNO-B1.0": ["0920-0212345", "0920-0212346"],
            "RAJ2000": [150.0, 150.1],
            "DEJ2000": [2.0, 2.1],
            "Epoch": [1978.5, 1980.2],  # mean observation epoch, not the position epoch
            "pmRA": [10, -4],
            "pmDE": [0, 6],
            "B1mag": [18.1, 19.2],
            "R1mag": [17.0, 18.0],
            "B2mag": [18.3, np.nan],
            "R2mag": [17.2, 18.1],
            "Imag": [16.5, 17.4],
        }
    )
    table.write(tmp_path / "usno.vot", format="votable")
    result = table_of(read_catalog_file("USNOB1", tmp_path / "usno.vot"))
    assert list(result["ID"]) == ["0920-0212345", "0920-0212346"]
    assert list(result["EPOCH"]) == [2000.0, 2000.0]
    assert (
        list(result["PMRA"]) == [10.0, -4.0] and result["MAG_R2"][1] == 18.1 and np.isnan(result["MAG_B2"][1])
    )
    assert all(np.isnan(result[f"ERR_{band}"]).all() for band in ("B1", "R1", "B2", "R2", "I"))


def test_legacy_surveys_fluxes_in_nanomaggies_become_ab_magnitudes():
    table = Table(
        {
            "ls_id": [9906619000001, 9906619000002, 9906619000003],
            "ra": [150.0, 150.1, 150.2],
            "dec": [2.0, 2.1, 2.2],
            "flux_g": [1.0, 100.0, -0.5],
            "flux_ivar_g": [100.0, 0.0, 4.0],
            "flux_r": [10.0, 2.0, 3.0],
            "flux_ivar_r": [1.0, 1.0, 1.0],
            "mag_z": [20.5, 21.0, np.nan],
            "pmra": [0.0, 3.0, 0.0],
            "pmdec": [0.0, -1.0, 0.0],
            "ref_epoch": [0.0, 2016.0, 0.0],
        }
    )
    result = table_of(read_catalog_table("LSDR10", table, "tractor"))
    np.testing.assert_allclose(result["MAG_g"][:2], [22.5, 17.5])
    assert np.isnan(result["MAG_g"][2])  # a non-positive flux has no magnitude
    assert result["ERR_g"][0] == pytest.approx(1.0857362 * 0.1)  # sigma/flux = 0.1
    assert np.isnan(result["ERR_g"][1])  # no inverse variance: unknown error
    assert result["MAG_r"][0] == pytest.approx(20.0) and result["ERR_r"][1] == pytest.approx(1.0857362 / 2)
    assert list(result["MAG_z"][:2]) == [20.5, 21.0] and np.isnan(result["ERR_z"]).all()
    assert np.isnan(result["MAG_i"]).all()
    assert list(result["EPOCH"]) == [2016.0, 2016.0, 2016.0] and result["PMRA"][1] == 3.0
    assert result["ID"][0] == "9906619000001"


def test_legacy_surveys_objid_and_magnitude_columns():
    table = Table({"objid": [5], "ra": [1.0], "dec": [1.0], "mag_g": [21.0], "magerr_g": [0.05]})
    result = table_of(read_catalog_table("LSDR10", table, "datalab"))
    assert result["ID"][0] == "5" and result["MAG_g"][0] == 21.0 and result["ERR_g"][0] == 0.05
    assert "PMRA" not in result.colnames


def test_a_file_without_id_column_numbers_its_rows(caplog):
    table = Table({"RAJ2000": [1.0, 2.0], "DEJ2000": [0.0, 0.0]})
    answer = read_catalog_table("PS1DR1", table, "bare")
    assert list(table_of(answer)["ID"]) == ["1", "2"]
    assert "bare has no magnitude column" in caplog.text


def test_service_warnings_next_to_a_result_do_not_discard_it(tmp_path, caplog):
    (tmp_path / "partial.xml").write_text(
        '<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        '<RESOURCE><INFO name="Error" value="column xyz unknown"/><TABLE>'
        '<FIELD name="RAJ2000" datatype="double" unit="deg"/>'
        '<FIELD name="DEJ2000" datatype="double" unit="deg"/>'
        "<DATA><TABLEDATA><TR><TD>10.5</TD><TD>-3.25</TD></TR></TABLEDATA></DATA></TABLE>"
        '<INFO name="QUERY_STATUS" value="OK"/></RESOURCE></VOTABLE>'
    )
    answer = read_catalog_file("PS1DR1", tmp_path / "partial.xml")
    assert answer.n_sources == 1 and table_of(answer)["RA"][0] == 10.5
    assert "partial.xml: the service reported errors with its result: column xyz unknown" in caplog.text


def test_an_empty_votable_is_an_input_error(tmp_path):
    (tmp_path / "empty.vot").write_text(
        '<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        "<RESOURCE/></VOTABLE>"
    )
    with raises_with(InputError, "file empty.vot: no table in this VOTable"):
        read_catalog_file("PS1DR1", tmp_path / "empty.vot")
