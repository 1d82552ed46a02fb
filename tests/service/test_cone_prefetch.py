"""The prefetch's pieces against a local VizieR: the cone it asks, the region cache, the processes' job."""

import time
from concurrent.futures import Future

import pytest
from paths import SDSS_FILE
from vizier_answers import vizier_handler

from vtac.adapters.cone_cache import ConeCache, InflightCones
from vtac.adapters.http import HttpPolicy
from vtac.adapters.providers import RemoteSettings, resolve_provider
from vtac.app.catalogs import CatalogSource
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer, CatalogStatus, MxtPosition
from vtac.service.cone_prefetch import ConePrefetcher, describe, fetch_region, prefetch_cone

#: No retry, short waits; the read timeout leaves room for the local VizieR to write a 29' cone's VOTable on a
#: loaded machine (1.7 s on a quiet one: 2 s timed out in the full suite).
FAST = HttpPolicy(connect_timeout_s=0.5, read_timeout_s=10.0, retries=0, backoff_s=0.01, max_backoff_s=0.02)
ECLAIRS = MxtPosition(215.6, 53.1, 283.0, "SVOM", "ECLAIRs")


def remote(httpserver, tmp_path, **kwargs):
    return RemoteSettings(
        vizier_url=httpserver.url_for("/"), policy=FAST, deadline_s=20.0, cache_dir=tmp_path, **kwargs
    )


def status_of(prefetcher: ConePrefetcher, burst_id: str) -> dict[str, str]:
    """The prefetch's status of a burst it was started for."""
    status = prefetcher.status(burst_id)
    assert status is not None
    return status


def test_the_cone_holds_the_field_at_any_roll_around_the_circle_and_is_bounded():
    cone = prefetch_cone(ECLAIRS, 45.0)
    assert (cone.ra, cone.dec) == (215.6, 53.1)
    assert cone.radius_deg * 60 == 29  # 18.4' half-diagonal + 2' margin + 3' slack + 4.7' circle, rounded up
    assert prefetch_cone(MxtPosition(1.0, 2.0, 1800.0), 45.0).radius_deg * 60 == 45


def test_the_processes_job_stores_region_entries_that_serve_any_cone_inside(httpserver, tmp_path):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    region = prefetch_cone(ECLAIRS, 45.0)
    outcomes = fetch_region([("SDSS12", "vizier")], remote(httpserver, tmp_path), region)
    assert outcomes["SDSS12"].startswith("ok: ")

    httpserver.clear()  # nothing more may be asked
    inside = Cone(215.7, 53.05, 6.0 / 60.0)
    answer = ConeCache(tmp_path).get("SDSS12", inside)
    assert answer is not None and answer.status is CatalogStatus.OK and answer.n_sources > 0
    assert "prefetched around the X-ray position" in answer.message
    assert ConeCache(tmp_path).get("SDSS12", Cone(215.6, 53.6, 6.0 / 60.0)) is None  # reaches outside


def test_a_failed_answer_is_not_stored_and_says_why(httpserver, tmp_path):
    httpserver.expect_request("/viz-bin/votable").respond_with_data("busy", status=503)
    outcomes = fetch_region([("SDSS12", "vizier")], remote(httpserver, tmp_path), prefetch_cone(ECLAIRS, 45))
    assert outcomes["SDSS12"].startswith("failed: ") and not list(tmp_path.glob("*.npy"))
    assert describe(CatalogAnswer("X", CatalogStatus.OK, None, "", truncated=True)).startswith("truncated")


def test_a_query_inside_a_cone_in_flight_waits_for_it_then_reads_the_cache(httpserver, tmp_path):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    inflight = InflightCones()
    settings = remote(httpserver, tmp_path, inflight=inflight)
    region = prefetch_cone(ECLAIRS, 45.0)
    pending: Future = Future()
    inflight.add("SDSS12", region, pending)
    assert inflight.covering("SDSS12", Cone(215.6, 53.1, 0.1)) is pending
    assert inflight.covering("PS1DR1", Cone(215.6, 53.1, 0.1)) is None

    fetch_region([("SDSS12", "vizier")], remote(httpserver, tmp_path), region)
    httpserver.clear()
    pending.set_result({})
    answer = resolve_provider("SDSS12", "vizier", settings).query(
        "SDSS12", Cone(215.6, 53.1, 0.1), time.monotonic() + 2
    )
    assert answer.status is CatalogStatus.OK and "prefetched" in answer.message


def test_a_cone_still_in_flight_at_the_deadline_is_failed_not_asked_twice(httpserver, tmp_path):
    inflight = InflightCones()
    inflight.add("SDSS12", prefetch_cone(ECLAIRS, 45.0), Future())
    provider = resolve_provider("SDSS12", "vizier", remote(httpserver, tmp_path, inflight=inflight))
    answer = provider.query("SDSS12", Cone(215.6, 53.1, 0.1), time.monotonic() + 0.2)
    assert answer.status is CatalogStatus.FAILED and "still in flight" in answer.message


def test_a_second_position_inside_the_first_cone_starts_nothing_and_a_cached_field_is_not_asked(
    httpserver, tmp_path
):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    fetch_region([("SDSS12", "vizier")], remote(httpserver, tmp_path), prefetch_cone(ECLAIRS, 45.0))
    prefetcher = ConePrefetcher(
        [CatalogSource("SDSS12", "vizier")], remote(httpserver, tmp_path), workers=1, max_radius_arcmin=45
    )
    try:
        assert prefetcher.start("sb1", ECLAIRS)
        assert prefetcher.status("sb1") == {"SDSS12": "cached already"}
        assert not prefetcher.start("sb1", MxtPosition(215.61, 53.1, 40.0))  # MXT inside: nothing new
        assert prefetcher.status("sb2") is None
    finally:
        prefetcher.close()


def test_the_prefetch_needs_a_cache():
    with pytest.raises(ValueError, match="cone cache"):
        ConePrefetcher([], RemoteSettings(), workers=1, max_radius_arcmin=45)
    with pytest.raises(ValueError, match="cone cache"):
        fetch_region([], RemoteSettings(), Cone(0.0, 0.0, 0.1))


def test_a_broken_pool_fails_that_prefetch_only_and_is_replaced(httpserver, tmp_path):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    prefetcher = ConePrefetcher(
        [CatalogSource("SDSS12", "vizier")], remote(httpserver, tmp_path), workers=1, max_radius_arcmin=45
    )
    try:
        prefetcher._processes().shutdown()  # pylint: disable=protected-access  # as a killed worker leaves it
        assert prefetcher.start("sb1", ECLAIRS)
        assert status_of(prefetcher, "sb1")["SDSS12"].startswith("failed: cannot schedule new futures")

        assert prefetcher.start("sb2", ECLAIRS)
        deadline = time.monotonic() + 60
        while status_of(prefetcher, "sb2")["SDSS12"] == "in flight" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status_of(prefetcher, "sb2")["SDSS12"].startswith("ok: ")
    finally:
        prefetcher.close()


def test_a_hats_catalogue_is_warmed_not_fetched(tmp_path):
    """The local HATS catalogue is opened and its cone read at the first position, in this process."""
    from vtac.adapters.hats_catalog import open_hats
    from vtac.entrypoints.cli import main as vtac

    sdss = str(SDSS_FILE)
    assert vtac(["catalog", "ingest", "SDSS12", sdss, "--into", str(tmp_path)]) == 0
    open_hats.cache_clear()
    settings = RemoteSettings(cache_dir=tmp_path / "cache")
    prefetcher = ConePrefetcher(
        [CatalogSource("SDSS12", str(tmp_path)), CatalogSource("GAIADR3", str(tmp_path / "nothing"))],
        settings,
        workers=1,
        max_radius_arcmin=45,
    )
    try:
        assert prefetcher.start("sb1", ECLAIRS)
        deadline = time.monotonic() + 30
        while status_of(prefetcher, "sb1")["SDSS12"] == "in flight" and time.monotonic() < deadline:
            time.sleep(0.05)
        status = status_of(prefetcher, "sb1")
        assert status["SDSS12"].startswith("warmed ok: ") and int(status["SDSS12"].split()[2]) > 1000
        assert "GAIADR3" not in status  # a file, not HATS: nothing to warm
        assert open_hats.cache_info().currsize == 1  # the VT-time query reuses the opened catalogue
    finally:
        prefetcher.close()
