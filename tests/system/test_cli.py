"""The command-line contract operators and other tools rely on: outputs, exit codes, one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from cli_rig import handmade_list, run
from paths import REPO, SDSS

from vtac.adapters.srclist import write_srclist
from vtac.core.records import SequenceInfo
from vtac.entrypoints import demo


def test_writes_the_three_products_named_by_the_burst_id(tmp_path, capsys):
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26112301")
    code, out, _ = run(
        capsys,
        "--srclist",
        srclist,
        "--catalog",
        SDSS,
        "--mxt-position",
        "215.6,53.1,60",
        "--out",
        tmp_path / "out",
    )
    assert code == 0
    for name in ("QPO_VT_sb26112301.fits", "QCANDI_VT_sb26112301.fits", "QPO_VT_sb26112301.json"):
        assert (tmp_path / "out" / name).is_file()
    summary = json.loads((tmp_path / "out" / "QPO_VT_sb26112301.json").read_text())
    assert summary["mxt"] == {
        "ra": 215.6,
        "dec": 53.1,
        "r90_arcsec": 60.0,
        "mission": "SVOM",
        "instrument": "MXT",
        "origin": "",
    }
    assert "Burst sb26112301" in out and "1 input rows rejected" in out
    with fits.open(tmp_path / "out" / "QPO_VT_sb26112301.fits") as hdul:
        assert hdul[0].header["NREJECT"] == 1


def test_burst_id_option_overrides_and_no_candidate_is_still_a_product(tmp_path, capsys):
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb1")
    code, out, _ = run(
        capsys, "--srclist", srclist, "--catalog", SDSS, "--burst-id", "sb26112399", "--out", tmp_path
    )
    assert code == 0 and (tmp_path / "QPO_VT_sb26112399.json").is_file()
    assert "No X-ray position" in out


ALERTS = REPO / "tests" / "data" / "alerts"


def test_a_gcn_notice_gives_the_position_and_the_smaller_circle_wins(tmp_path, capsys):
    """The real EP WXT notice moved onto the hand-made list's field, then the real MXT one (smaller)."""
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26040203")
    wxt = json.loads((ALERTS / "alert_247.json").read_text())
    (tmp_path / "wxt.json").write_text(json.dumps({**wxt, "ra": 215.6081, "dec": 53.1}))
    mxt = (ALERTS / "mxt_48.xml").read_text().replace("<C1>170.8782</C1>", "<C1>215.6081</C1>")
    (tmp_path / "mxt.xml").write_text(mxt.replace("<C2>63.5859</C2>", "<C2>53.1000</C2>"))

    common = ["--srclist", srclist, "--catalog", SDSS, "--out", tmp_path, "--no-extras"]
    code, out, _ = run(capsys, *common, "--position", tmp_path / "wxt.json")
    assert code == 0 and 'X-ray position: EP WXT (215.60810, +53.10000), r90 186.3"' in out
    with fits.open(tmp_path / "QPO_VT_sb26040203.fits") as hdul:
        assert (hdul[0].header["XRAYMISS"], hdul[0].header["XRAYINST"]) == ("EP", "WXT")

    arguments = ["--position", tmp_path / "wxt.json", "--position", tmp_path / "mxt.xml"]
    code, out, _ = run(capsys, *common, *arguments)
    assert code == 0 and "X-ray position: SVOM MXT" in out
    summary = json.loads((tmp_path / "QPO_VT_sb26040203.json").read_text())
    assert summary["mxt"]["origin"] == "ivo://org.svom/fsc#sb26040203_mxt-initial_qf2"


@pytest.mark.parametrize(
    ("notice", "expected"),
    [
        (
            "fermi_gbm_flt_pos_8126.xml",
            "Fermi/GBM error radius 13.3 deg exceeds max_position_radius_deg=0.25",
        ),
        ("mxt_48.xml", "Burst_Id sb26040203 differs from --burst-id sb1"),
    ],
)
def test_an_unusable_notice_exits_2_with_one_line(tmp_path, capsys, notice, expected):
    srclist = handmade_list(tmp_path / "l.ecsv", "sb1")
    code, out, err = run(
        capsys, "--srclist", srclist, "--catalog", SDSS, "--burst-id", "sb1", "--position", ALERTS / notice
    )
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert expected in err and notice in err


@pytest.mark.parametrize(
    ("make_args", "expected"),
    [
        (lambda tmp: ["--srclist", tmp / "missing.fits", "--catalog", SDSS], "missing.fits"),
        (
            lambda tmp: ["--srclist", handmade_list(tmp / "l.ecsv", "sb1", drop="MAGERR"), "--catalog", SDSS],
            "MAGERR",
        ),
        (
            lambda tmp: ["--srclist", handmade_list(tmp / "l.ecsv", "sb1"), "--catalog", "HIPPARCOS=x.fits"],
            "unknown catalogue HIPPARCOS",
        ),
        (lambda tmp: ["--srclist", handmade_list(tmp / "l.ecsv"), "--catalog", SDSS], "--burst-id"),
        (
            lambda tmp: [
                "--srclist",
                handmade_list(tmp / "l.ecsv", "sb1"),
                "--catalog",
                SDSS,
                "--mxt-position",
                "215.6,53.1",
            ],
            "R90",
        ),
        (
            lambda tmp: ["--srclist", handmade_list(tmp / "l.ecsv", "sb1"), "--catalog", "SDSS12"],
            "NAME=SOURCE",
        ),
    ],
    ids=[
        "missing-file",
        "missing-column",
        "unknown-catalogue",
        "no-burst-id",
        "bad-mxt-position",
        "no-source",
    ],
)
def test_bad_input_exits_2_with_one_line_naming_the_problem(tmp_path, capsys, make_args, expected):
    code, _, err = run(capsys, *make_args(tmp_path), "--out", tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.subprocess
def test_the_executable_script_runs_the_same_job(tmp_path):
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26112302")
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "bin" / "vtac-make-qpo-vt"),
            "--srclist",
            str(srclist),
            "--catalog",
            SDSS,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "QPO_VT_sb26112302.fits").is_file()


def test_the_demo_ranks_the_injected_afterglow_first(tmp_path, capsys):
    assert demo.main(["--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "is ranked first" in out
    assert len(list((tmp_path / "products").glob("*.fits"))) == 2
    page = out.strip().splitlines()[-1].split(": ", 1)[1]
    assert page.endswith(".html") and Path(page).is_file()
    voevent = next((tmp_path / "products").glob("*_voevent.xml")).read_text(encoding="utf-8")
    assert 'role="test"' in voevent


def test_the_demo_says_so_when_the_afterglow_is_not_first(tmp_path):
    truth = {"afterglow": {"ra": 10.0, "dec": 10.0}}
    summary = tmp_path / "QPO_VT_x.json"
    summary.write_text(json.dumps({"candidates": [{"ra": 11.0, "dec": 10.0, "vt_id": 1, "score": 0.9}]}))
    assert demo._verdict(truth, summary, "GRB X") == 1
    summary.write_text(json.dumps({"candidates": []}))
    assert demo._verdict(truth, summary, "GRB X") == 1
    assert np.isclose(demo._separation_arcsec(10.0, 0.0, 10.0, 1 / 3600), 1.0)


def test_an_unexpected_failure_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("vtac.app.version.build_qpo_vt", broken)
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26112303")
    code, _, err = run(capsys, "--srclist", srclist, "--catalog", SDSS, "--out", tmp_path)
    assert code == 1
    assert err.count("\n") == 1 and "RuntimeError: disk on fire" in err


def test_without_catalog_option_the_configured_default_set_is_asked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", json.dumps([SDSS, f"GAIADR3={tmp_path / 'absent.fits'}"]))
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26112305")
    code, _, err = run(capsys, "--srclist", srclist, "--out", tmp_path)
    assert code == 2 and "absent.fits" in err  # the second configured catalogue was asked
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", json.dumps([SDSS]))
    code, out, _ = run(capsys, "--srclist", srclist, "--out", tmp_path)
    assert code == 0 and "SDSS12 ok" in out


def test_the_default_set_is_the_operational_catalogues():
    from vtac.settings import VtacSettings

    names = [source.name for source in VtacSettings().catalogues.sources]
    assert names == ["PS1DR1", "SDSS12", "LSDR10", "GAIADR3", "USNOB1"]


#: Loaded by the one-off only for what it was not asked to do (the extras, a HATS catalogue, a catalogue
#: service, a notice).
NOT_FOR_PRODUCTS_FROM_FILES = (
    "requests",
    "vtac.adapters.extras",
    "vtac.adapters.extras.context",
    "vtac.adapters.hats_catalog",
    "vtac.adapters.moc",
    "xml.etree.ElementTree",
)


@pytest.mark.subprocess
def test_the_one_off_on_local_files_imports_only_what_it_needs(tmp_path):
    # FITS, as the VT pipeline writes them
    stars = Table.read(handmade_list(tmp_path / "list.ecsv"), format="ascii.ecsv")
    srclist = write_srclist(
        tmp_path / "QSRCLIST_VT_R.fits",
        "R",
        {"R0": stars[stars["SEQ"] == "R0"]},
        {"R0": SequenceInfo("R0", 22.5, "2026-11-23T10:00:00", 300.0)},
        burst_id="sb26112303",
    )
    args = ["--srclist", srclist, "--catalog", SDSS, "--mxt-position", "215.6081,53.1,60", "--out", tmp_path]
    script = (
        "import sys\n"
        "from vtac.entrypoints.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "make-qpo-vt", *map(str, args), "--no-extras"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "QPO_VT_sb26112303.json").is_file()
    loaded = set(result.stderr.split())
    assert "vtac.adapters.dust" in loaded  # the summary's reddening was looked up
    assert sorted(loaded.intersection(NOT_FOR_PRODUCTS_FROM_FILES)) == []
