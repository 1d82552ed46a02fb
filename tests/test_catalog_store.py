"""The local partitioned catalogue store: the rows of a brute-force cone, file by file, anywhere."""

import numpy as np
import pytest
from astropy.table import Table

from vtac.adapters.catalog_store import CatalogStore
from vtac.core.model import CatalogStatus
from vtac.core.sky import separation_arcsec
from vtac.entrypoints.cli import main as vtac
from vtac.errors import InputError
from vtac.simulation.sky import data_path


def normalised(rng, n, ra0, dec0, half_width):
    dec = np.clip(dec0 + rng.uniform(-half_width, half_width, n), -90, 90)
    ra = (ra0 + rng.uniform(-half_width, half_width, n) / max(np.cos(np.radians(dec0)), 0.05)) % 360
    table = Table({"ID": [f"src{i}" for i in range(n)], "RA": ra, "DEC": dec})
    table["MAG_g"], table["ERR_g"] = rng.uniform(15, 23, n), np.full(n, 0.05)
    return table


@pytest.mark.parametrize(
    ("ra0", "dec0", "radius_arcsec"),
    [(215.6, 53.1, 600.0), (0.05, -10.0, 900.0), (120.0, 89.5, 1800.0), (300.0, -0.2, 400.0)],
    ids=["field", "ra-wrap", "pole", "equator"],
)
def test_cone_returns_exactly_the_rows_of_a_brute_force_cone(tmp_path, ra0, dec0, radius_arcsec):
    rng = np.random.default_rng(5)
    table = normalised(rng, 20000, ra0, dec0, 1.5)
    store = CatalogStore(tmp_path, "SDSS12")
    store.ingest_table(table[:12000])
    store.ingest_table(table[12000:])  # a second file: a second part of the same cells
    answer = CatalogStore(tmp_path, "SDSS12").cone(ra0, dec0, radius_arcsec)
    expected = set(table["ID"][separation_arcsec(table["RA"], table["DEC"], ra0, dec0) <= radius_arcsec])
    assert answer.status is CatalogStatus.OK
    assert set(answer.table["ID"]) == expected and len(answer.table) == len(expected) > 10
    assert np.allclose(
        np.sort(answer.table["MAG_g"]), np.sort(table["MAG_g"][np.isin(table["ID"], list(expected))])
    )


def test_a_cone_where_nothing_was_ingested_is_not_covered(tmp_path):
    store = CatalogStore(tmp_path, "SDSS12")
    store.ingest_table(normalised(np.random.default_rng(1), 100, 10.0, 10.0, 0.2))
    assert store.cone(200.0, -40.0, 60.0).status is CatalogStatus.NOT_COVERED


def test_later_files_are_fitted_to_the_columns_of_the_first(tmp_path):
    store = CatalogStore(tmp_path, "GAIADR3")
    first = normalised(np.random.default_rng(2), 50, 50.0, 5.0, 0.01)
    first["PMRA"] = np.ones(50)
    second = normalised(np.random.default_rng(3), 50, 50.0, 5.0, 0.01)
    second["ID"] = [f"other{i}" for i in range(50)]
    store.ingest_table(first)
    store.ingest_table(second)
    table = store.cone(50.0, 5.0, 120.0).table
    assert len(table) == 100
    assert np.isnan(np.asarray(table["PMRA"])).sum() == 50


def test_a_store_of_another_catalogue_is_refused(tmp_path):
    store = CatalogStore(tmp_path, "PS1DR1")
    store.ingest_table(normalised(np.random.default_rng(4), 10, 1.0, 1.0, 0.01))
    (tmp_path / "SDSS12").mkdir()
    (tmp_path / "SDSS12" / "manifest.json").write_text((tmp_path / "PS1DR1" / "manifest.json").read_text())
    with pytest.raises(InputError, match="store holds PS1DR1"):
        CatalogStore(tmp_path, "SDSS12")


def test_ingest_and_cone_from_the_command_line(tmp_path, capsys):
    assert (
        vtac(["catalog", "ingest", "SDSS12", str(data_path("sdss12_egs_1deg.fits")), "--into", str(tmp_path)])
        == 0
    )
    assert "15083 rows in" in capsys.readouterr().out
    assert (
        vtac(
            [
                "catalog",
                "cone",
                "SDSS12",
                "--store",
                str(tmp_path),
                "--ra",
                "215.6",
                "--dec",
                "53.1",
                "--radius",
                "300",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("SDSS12 ok:") and int(out.split(": ")[1].split()[0]) > 100


def test_fetch_fills_the_store_for_its_cone_only_and_twice_is_once(tmp_path, httpserver, monkeypatch, capsys):
    from test_vizier import vizier_handler  # VizieR's real ASU format over the SDSS field

    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    monkeypatch.setenv("VTAC_CATALOG_SERVICES__VIZIER_URL", httpserver.url_for("/"))
    fetch = [
        "catalog",
        "fetch",
        "SDSS12",
        "--ra",
        "215.6",
        "--dec",
        "53.1",
        "--radius",
        "300",
        "--into",
        str(tmp_path),
    ]
    assert vtac(fetch) == 0
    assert vtac(fetch) == 0
    assert "rows fetched from vizier" in capsys.readouterr().out
    store = CatalogStore(tmp_path, "SDSS12")
    inside = store.cone(215.6, 53.1, 200.0)
    table = Table.read(data_path("sdss12_egs_1deg.fits"))
    expected = separation_arcsec(table["RA_ICRS"], table["DE_ICRS"], 215.6, 53.1) <= 200.0
    assert inside.status is CatalogStatus.OK and len(inside.table) == expected.sum()
    assert store.cone(215.6, 53.1, 400.0).status is CatalogStatus.NOT_COVERED  # beyond the fetched cone


def test_a_failed_fetch_stores_nothing_and_exits_3(tmp_path, httpserver, monkeypatch, capsys):
    httpserver.expect_request("/viz-bin/votable").respond_with_data("busy", status=503)
    monkeypatch.setenv("VTAC_CATALOG_SERVICES__VIZIER_URL", httpserver.url_for("/"))
    monkeypatch.setenv("VTAC_CATALOG_SERVICES__RETRIES", "0")
    code = vtac(
        [
            "catalog",
            "fetch",
            "SDSS12",
            "--ra",
            "215.6",
            "--dec",
            "53.1",
            "--radius",
            "60",
            "--into",
            str(tmp_path),
        ]
    )
    assert code == 3 and "503" in capsys.readouterr().err
    assert not (tmp_path / "SDSS12").exists()


def test_a_store_answers_make_qpo_vt_like_a_file(tmp_path, capsys):
    from test_cli import handmade_list

    assert (
        vtac(["catalog", "ingest", "SDSS12", str(data_path("sdss12_egs_1deg.fits")), "--into", str(tmp_path)])
        == 0
    )
    srclist = handmade_list(tmp_path / "list.ecsv", burst_id="sb26112304")
    assert (
        vtac(
            [
                "make-qpo-vt",
                "--srclist",
                str(srclist),
                "--catalog",
                f"SDSS12={tmp_path}",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "SDSS12 ok" in capsys.readouterr().out


def test_compacting_keeps_every_row_in_one_file_per_cell(tmp_path):
    rng = np.random.default_rng(8)
    table = normalised(rng, 3000, 80.0, 20.0, 0.4)
    store = CatalogStore(tmp_path, "SDSS12")
    for chunk in (table[:1000], table[1000:2000], table[2000:]):
        store.ingest_table(chunk)
    before = store.cone(80.0, 20.0, 900.0)
    store.compact()
    after = CatalogStore(tmp_path, "SDSS12").cone(80.0, 20.0, 900.0)
    assert sorted(after.table["ID"]) == sorted(before.table["ID"]) and len(after.table) > 100
    assert all(
        len(list(cell.glob("*.npy"))) == 1 for cell in (tmp_path / "SDSS12").iterdir() if cell.is_dir()
    )
