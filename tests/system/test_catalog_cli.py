"""`vtac catalog ingest|fetch|cone` and HATS catalogues: the rows of a brute-force cone, anywhere."""

import numpy as np
import pytest
from astropy.table import Table
from expect import table_of
from paths import SDSS_FILE

from vtac.adapters.hats_catalog import HatsProvider
from vtac.adapters.hats_ingest import ingest_hats
from vtac.adapters.providers import RemoteSettings, resolve_provider
from vtac.core.coverage import Cone
from vtac.core.records import CatalogStatus
from vtac.core.sky import separation_arcsec
from vtac.entrypoints.cli import main as vtac
from vtac.errors import ConfigurationError


def gaia_archive_table(rng, n, ra0, dec0, half_width):
    """Gaia rows with the archive's column names, spread over a box around (ra0, dec0)."""
    dec = np.clip(dec0 + rng.uniform(-half_width, half_width, n), -90, 90)
    ra = (ra0 + rng.uniform(-half_width, half_width, n) / max(np.cos(np.radians(dec0)), 0.05)) % 360
    return Table(
        {"source_id": np.arange(n) + 10**15, "ra": ra, "dec": dec, "phot_g_mean_mag": rng.uniform(15, 21, n)}
    )


@pytest.mark.parametrize(
    ("ra0", "dec0", "radius_arcsec"),
    [(215.6, 53.1, 600.0), (0.05, -10.0, 900.0), (120.0, 89.5, 1800.0), (300.0, -0.2, 400.0)],
    ids=["field", "ra-wrap", "pole", "equator"],
)
def test_cone_returns_exactly_the_rows_of_a_brute_force_cone(tmp_path, ra0, dec0, radius_arcsec):
    """Partitions and row groups skipped by HEALPix spans lose no row, at the RA wrap and the pole too."""
    rng = np.random.default_rng(5)
    table = gaia_archive_table(rng, 20000, ra0, dec0, 1.5)
    table[:12000].write(tmp_path / "part1.fits")
    table[12000:].write(tmp_path / "part2.fits")  # a second file, in the same partitions
    ingest_hats("GAIADR3", [tmp_path / "part1.fits", tmp_path / "part2.fits"], tmp_path / "store")
    answer = HatsProvider(str(tmp_path / "store" / "GAIADR3")).query(
        "GAIADR3", Cone(ra0, dec0, radius_arcsec / 3600.0), deadline=0.0
    )
    inside = separation_arcsec(table["ra"], table["dec"], ra0, dec0) <= radius_arcsec
    expected = set(np.asarray(table["source_id"][inside]).astype(str))
    assert answer.status is CatalogStatus.OK
    found = table_of(answer)
    assert set(found["ID"]) == expected and len(found) == len(expected) > 10
    assert np.allclose(np.sort(found["MAG_G"]), np.sort(table["phot_g_mean_mag"][inside]))


def test_a_directory_that_is_no_hats_catalogue_is_refused_at_configuration(tmp_path):
    (tmp_path / "SDSS12").mkdir()
    (tmp_path / "SDSS12" / "manifest.json").write_text("{}")  # the former store's layout
    with pytest.raises(ConfigurationError, match=r"not a HATS catalogue.*vtac catalog ingest SDSS12"):
        resolve_provider("SDSS12", str(tmp_path), RemoteSettings())


def test_ingest_and_cone_from_the_command_line(tmp_path, capsys):
    assert vtac(["catalog", "ingest", "SDSS12", str(SDSS_FILE), "--into", str(tmp_path)]) == 0
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


def fetch_command(into, radius_arcsec):
    """``vtac catalog fetch`` of SDSS12 around the packaged field's centre."""
    place = ["--ra", "215.6", "--dec", "53.1", "--radius", str(radius_arcsec)]
    return ["catalog", "fetch", "SDSS12", *place, "--into", str(into)]


def test_fetch_fills_the_store_for_its_cone_only_and_twice_is_once(tmp_path, httpserver, monkeypatch, capsys):
    from vizier_answers import vizier_handler  # VizieR's real ASU format over the SDSS field

    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__VIZIER_URL", httpserver.url_for("/"))
    fetch = fetch_command(tmp_path, radius_arcsec=300)
    assert vtac(fetch) == 0
    assert vtac(fetch) == 0
    out = capsys.readouterr().out
    assert "rows fetched from vizier" in out and "already ingested" not in out
    import lsdb

    assert len(lsdb.open_catalog(tmp_path / "SDSS12").compute()) > 100  # real HATS, each row once
    catalog = HatsProvider(str(tmp_path / "SDSS12"))
    inside = catalog.query("SDSS12", Cone(215.6, 53.1, 200.0 / 3600.0), deadline=0.0)
    table = Table.read(SDSS_FILE)
    expected = separation_arcsec(table["RA_ICRS"], table["DE_ICRS"], 215.6, 53.1) <= 200.0
    assert inside.status is CatalogStatus.OK
    assert len(table_of(inside)) == expected.sum()
    assert "partly outside" not in inside.message
    rim = catalog.query("SDSS12", Cone(215.6, 53.1, 400.0 / 3600.0), deadline=0.0)  # beyond the fetch
    assert rim.status is CatalogStatus.OK and "partly outside" in rim.message
    far = catalog.query("SDSS12", Cone(215.9, 53.1, 120.0 / 3600.0), deadline=0.0)  # elsewhere in the field
    assert far.status is CatalogStatus.NOT_COVERED


def test_a_failed_fetch_stores_nothing_and_exits_3(tmp_path, httpserver, monkeypatch, capsys):
    httpserver.expect_request("/viz-bin/votable").respond_with_data("busy", status=503)
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__VIZIER_URL", httpserver.url_for("/"))
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__RETRIES", "0")
    code = vtac(fetch_command(tmp_path, radius_arcsec=60))
    assert code == 3 and "503" in capsys.readouterr().err
    assert not (tmp_path / "SDSS12").exists()


def test_a_store_answers_make_qpo_vt_like_a_file(tmp_path, capsys):
    from cli_rig import handmade_list

    assert vtac(["catalog", "ingest", "SDSS12", str(SDSS_FILE), "--into", str(tmp_path)]) == 0
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
