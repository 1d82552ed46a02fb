"""The cone cache: a rerun in the same field costs no network, and a failure is never remembered."""

import os
import time

import numpy as np
import pytest
from expect import table_of
from paths import SDSS_FILE
from vizier_answers import cone_rows, vizier_handler

from vtac.adapters.catalog_file import read_catalog_file
from vtac.adapters.cone_cache import ConeCache, cut_to_cone
from vtac.adapters.http import HttpPolicy
from vtac.adapters.providers import CachedProvider
from vtac.adapters.vizier import VizierProvider
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.core.sky import separation_arcsec

SDSS = read_catalog_file("SDSS12", SDSS_FILE)
CONE = Cone(215.6, 53.1, 5.0 / 60.0)
# Generous read timeout: the first answer of a session reads the packaged SDSS field (slow when loaded).
FAST = HttpPolicy(connect_timeout_s=0.5, read_timeout_s=5.0, retries=0)


def ids(answer):
    return sorted(answer.table["ID"])


def test_the_cell_cone_holds_every_cone_centred_in_the_cell(tmp_path):
    cache = ConeCache(tmp_path)
    cell = cache.cell_cone("SDSS12", CONE)
    rng = np.random.default_rng(1)
    for ra, dec in zip(
        CONE.ra + rng.uniform(-0.2, 0.2, 200), CONE.dec + rng.uniform(-0.2, 0.2, 200), strict=True
    ):
        other = cache.cell_cone("SDSS12", Cone(ra, dec, CONE.radius_deg))
        if other.key == cell.key:
            distance = separation_arcsec(ra, dec, cell.cone.ra, cell.cone.dec) / 3600.0
            assert distance + CONE.radius_deg <= cell.cone.radius_deg
    assert cell.key.startswith("SDSS12_") and cell.key.endswith(f"_r{round(cell.cone.radius_deg * 60)}")


@pytest.mark.parametrize(("ra", "dec"), [(0.0, -90.0), (359.999, 89.99), (180.0, 0.0)])
def test_cells_exist_at_the_poles_and_the_wrap(tmp_path, ra, dec):
    cell = ConeCache(tmp_path).cell_cone("GAIADR3", Cone(ra, dec, 0.1))
    assert separation_arcsec(ra, dec, cell.cone.ra, cell.cone.dec) / 3600.0 + 0.1 <= cell.cone.radius_deg


def test_a_stored_answer_is_served_cut_to_the_cone(tmp_path):
    cache = ConeCache(tmp_path)
    cell = cache.cell_cone("SDSS12", CONE)
    assert cache.get("SDSS12", CONE) is None
    path = cache.put(cell, cut_to_cone(SDSS, cell.cone))
    assert path is not None and path.exists() and not list(tmp_path.glob("*.part"))
    hit = cache.get("SDSS12", CONE)
    assert hit is not None
    assert hit.status is CatalogStatus.OK and "cone cache" in hit.message
    assert ids(hit) == ids(cut_to_cone(SDSS, CONE))
    assert float(table_of(hit)["MAG_r"][0]) == pytest.approx(
        float(table_of(cut_to_cone(SDSS, CONE))["MAG_r"][0])
    )
    wider = Cone(CONE.ra, CONE.dec, CONE.radius_deg * 3)
    assert cache.get("SDSS12", wider) is None  # needs a wider cell cone than the one stored
    assert cache.get("PS1DR1", CONE) is None


def test_an_old_answer_is_a_miss(tmp_path):
    cache = ConeCache(tmp_path, max_age_s=60.0)
    path = cache.put(cache.cell_cone("SDSS12", CONE), SDSS)
    assert path is not None
    past = time.time() - 120.0
    os.utime(path, (past, past))
    assert cache.get("SDSS12", CONE) is None


def test_an_unreadable_file_is_a_miss(tmp_path):
    cache = ConeCache(tmp_path)
    cell = cache.cell_cone("SDSS12", CONE)
    (tmp_path / f"{cell.key}.fits").write_bytes(b"not fits")
    assert cache.get("SDSS12", CONE) is None


@pytest.mark.parametrize(
    "answer",
    [
        CatalogAnswer("SDSS12", CatalogStatus.FAILED, None, "HTTP 500"),
        CatalogAnswer("SDSS12", CatalogStatus.NOT_COVERED, None, "outside"),
        CatalogAnswer("SDSS12", CatalogStatus.OK, table_of(SDSS)[:10], "cut", truncated=True),
    ],
    ids=["failed", "not-covered", "truncated"],
)
def test_only_complete_answers_are_stored(tmp_path, answer):
    cache = ConeCache(tmp_path / "cache")
    assert cache.put(cache.cell_cone("SDSS12", CONE), answer) is None
    assert cache.get("SDSS12", CONE) is None
    assert cut_to_cone(answer, CONE).status is answer.status


def test_a_rerun_in_the_same_field_costs_no_request(tmp_path, httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    provider = CachedProvider(VizierProvider(httpserver.url_for("/"), FAST), ConeCache(tmp_path))
    first = provider.query("SDSS12", CONE, time.monotonic() + 3)
    nearby = Cone(CONE.ra + 0.01, CONE.dec, CONE.radius_deg * 0.8)
    if (
        ConeCache(tmp_path).cell_cone("SDSS12", nearby).key
        != ConeCache(tmp_path).cell_cone("SDSS12", CONE).key
    ):
        nearby = Cone(CONE.ra, CONE.dec, CONE.radius_deg * 0.8)
    second = provider.query("SDSS12", nearby, time.monotonic() + 3)
    assert len(httpserver.log) == 1
    expected, _ = cone_rows(CONE)
    assert ids(first) == sorted(str(value) for value in expected["objID"])
    assert ids(second) == ids(cut_to_cone(SDSS, nearby))


def test_a_failure_is_not_cached_and_the_next_run_asks_again(tmp_path, httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_data("down", status=500)
    provider = CachedProvider(VizierProvider(httpserver.url_for("/"), FAST), ConeCache(tmp_path))
    for _ in range(2):
        assert provider.query("SDSS12", CONE, time.monotonic() + 3).status is CatalogStatus.FAILED
    assert len(httpserver.log) == 2 and not list(tmp_path.glob("*.fits"))


def test_a_cache_that_cannot_be_written_still_gives_the_answer(tmp_path, httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    provider = CachedProvider(VizierProvider(httpserver.url_for("/"), FAST), ConeCache(blocker / "cache"))
    answer = provider.query("SDSS12", CONE, time.monotonic() + 3)
    assert answer.status is CatalogStatus.OK and answer.n_sources > 400
