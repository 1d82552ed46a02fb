"""The one-off command with careless input (issue 9, item 7): a clear one-line error (exit 2), a warning or
``not_covered``, as a user would expect; nothing written outside ``--out``; ingest idempotent; exit 3 when
only a retry can help.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from astropy.io import fits
from astropy.table import Table
from cli_rig import handmade_list, run
from paths import SDSS, SDSS_FILE

from vtac.entrypoints.cli import main as vtac


def _last_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert "Traceback" not in err and lines
    return lines[-1]


@pytest.mark.parametrize("burst_id", ["x/../../escaped", "..", "../up", "a\\b"])
def test_an_unsafe_burst_id_option_is_refused_and_nothing_is_written(tmp_path, capsys, burst_id):
    srclist = handmade_list(tmp_path / "list.ecsv", "sb1")
    out = tmp_path / "deep" / "out"
    code, _, err = run(capsys, "--srclist", srclist, "--catalog", SDSS, "--burst-id", burst_id, "--out", out)

    assert code == 2 and "is not a burst identifier" in _last_line(err)
    assert not out.exists()
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["list.ecsv"]


def test_an_unsafe_burst_id_header_is_refused_naming_the_file(tmp_path, capsys):
    srclist = handmade_list(tmp_path / "list.ecsv", "x/../../escaped")
    code, _, err = run(capsys, "--srclist", srclist, "--catalog", SDSS, "--out", tmp_path / "out")

    assert code == 2
    assert "BURST_ID header 'x/../../escaped' is not a burst identifier" in _last_line(err)
    assert "list.ecsv" in _last_line(err) and not (tmp_path / "out").exists()


def test_a_list_whose_rows_are_all_unusable_is_one_line_exit_2_naming_the_file(tmp_path, capsys):
    table = Table.read(handmade_list(tmp_path / "list.ecsv", "sb1"))
    table["MAGCAL"] = -1.0
    table.write(tmp_path / "bad.ecsv", overwrite=True)
    code, _, err = run(capsys, "--srclist", tmp_path / "bad.ecsv", "--catalog", SDSS, "--out", tmp_path / "o")

    assert code == 2
    assert _last_line(err) == (
        "vtac make-qpo-vt: error: file bad.ecsv: "
        "no usable source row (3 rejected as non-physical or non-finite)"
    )


def _sdss_variant(tmp_path: Path, name: str, change) -> str:
    table = Table.read(SDSS_FILE)
    table = change(table)
    table.write(tmp_path / name, overwrite=True)
    return f"SDSS12={tmp_path / name}"


def test_a_catalogue_file_without_magnitudes_is_an_error_not_every_source_new(tmp_path, capsys):
    catalog = _sdss_variant(tmp_path, "nomag.fits", lambda t: t[[c for c in t.colnames if "mag" not in c]])
    srclist = handmade_list(tmp_path / "list.ecsv", "sb1")
    code, _, err = run(capsys, "--srclist", srclist, "--catalog", catalog, "--out", tmp_path / "out")

    assert code == 2
    assert "file nomag.fits: no magnitude for SDSS12 in any row" in _last_line(err)


def test_a_catalogue_file_of_another_sky_is_not_covered_never_no_counterpart(tmp_path, capsys):
    def elsewhere(table):
        table["RA_ICRS"] = (table["RA_ICRS"] + 90.0) % 360.0
        return table

    catalog = _sdss_variant(tmp_path, "far.fits", elsewhere)
    srclist = handmade_list(tmp_path / "list.ecsv", "sb1")
    code, out, _ = run(capsys, "--srclist", srclist, "--catalog", catalog, "--out", tmp_path / "out")

    assert code == 0 and "SDSS12 not_covered" in out and "UNVERIFIED" in out
    summary = json.loads((tmp_path / "out" / "QPO_VT_sb1.json").read_text())
    assert json.dumps(summary).count("not_covered") >= 1
    with fits.open(tmp_path / "out" / "QPO_VT_sb1.fits") as hdul:
        assert hdul["CAT_SDSS12"].header["CATSTAT"] == "not_covered"
        assert "no row of far.fits in the field" in hdul["CAT_SDSS12"].header["CATMSG"]


def test_an_mxt_circle_far_off_the_field_is_a_warning_in_the_output_and_the_product(tmp_path, capsys):
    srclist = handmade_list(tmp_path / "list.ecsv", "sb1")
    args = ("--srclist", srclist, "--catalog", SDSS, "--out", tmp_path / "out")
    code, out, _ = run(capsys, *args, "--mxt-position", "10,10,60")

    assert code == 0
    assert "WARNING: the MXT circle" in out and "outside the field" in out
    with fits.open(tmp_path / "out" / "QPO_VT_sb1.fits") as hdul:
        assert hdul[0].header["MXT_OFF"] is True

    code, out, _ = run(capsys, *args, "--mxt-position", "215.6,53.1,60")
    assert code == 0 and "WARNING: the MXT circle" not in out
    with fits.open(tmp_path / "out" / "QPO_VT_sb1.fits") as hdul:
        assert hdul[0].header["MXT_OFF"] is False


def test_ingesting_the_same_file_twice_adds_its_rows_once(tmp_path, capsys):
    sdss = str(SDSS_FILE)
    assert vtac(["catalog", "ingest", "SDSS12", sdss, "--into", str(tmp_path)]) == 0
    assert "1 files added, 15083 rows in" in capsys.readouterr().out
    assert vtac(["catalog", "ingest", "SDSS12", sdss, sdss, "--into", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "0 files added, 15083 rows in" in captured.out


def test_every_catalogue_failing_writes_unverified_products_and_exits_3(
    tmp_path, capsys, httpserver, monkeypatch
):
    httpserver.expect_request("/viz-bin/votable").respond_with_data("down", status=503)
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__VIZIER_URL", httpserver.url_for("/viz-bin/votable"))
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__DEADLINE_S", "2")
    srclist = handmade_list(tmp_path / "list.ecsv", "sb1")
    code, out, err = run(
        capsys, "--srclist", srclist, "--catalog", "SDSS12=vizier", "--out", tmp_path / "out"
    )

    assert code == 3
    assert "every catalogue failed (SDSS12)" in _last_line(err)
    assert (tmp_path / "out" / "QPO_VT_sb1.fits").is_file() and "UNVERIFIED" in out
