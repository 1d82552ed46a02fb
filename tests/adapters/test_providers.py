"""The ``--catalog NAME=SOURCE`` registry, the concurrent query under one deadline, and end to end: ``vtac
make-qpo-vt --catalog SDSS12=vizier`` against a real local server speaking VizieR's real format.

A catalogue that did not answer must show as failed in the JSON summary, and then no source may be new.
"""

import json
import time

import numpy as np
import pytest
from expect import table_of
from paths import SDSS_FILE
from vizier_answers import ERROR_ANSWER, TEMPLATE, counting, vizier_handler
from werkzeug import Response

from vtac.adapters.providers import (
    CachedProvider,
    FileProvider,
    FootprintGuard,
    RemoteSettings,
    query_catalogs,
    resolve_provider,
)
from vtac.adapters.vizier import VizierProvider
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.entrypoints.cli import main as vtac
from vtac.errors import ConfigurationError, InputError
from vtac.settings import CatalogServices, load_settings
from vtac.simulation.burst import simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, load_demo_sky

CONE = Cone(215.6, 53.1, 0.1)
BURST_ID = "sb26050905"


# --- registry and settings -------------------------------------------------------------------------------


def test_sources_resolve_to_file_vizier_or_datalab():
    settings = RemoteSettings(vizier_url="http://127.0.0.1:1")
    assert resolve_provider("SDSS12", str(SDSS_FILE), settings) == FileProvider(str(SDSS_FILE))
    vizier = resolve_provider("PS1DR1", "VizieR", settings)
    assert isinstance(vizier, FootprintGuard) and isinstance(vizier.inner, VizierProvider)
    assert vizier.inner.base_url == "http://127.0.0.1:1"
    datalab = resolve_provider("LSDR10", "datalab", RemoteSettings(cache_dir=None))
    assert isinstance(datalab, FootprintGuard)


def test_a_cache_directory_puts_the_cache_before_the_service(tmp_path):
    provider = resolve_provider("GAIADR3", "vizier", RemoteSettings(cache_dir=tmp_path))
    assert isinstance(provider, FootprintGuard)
    assert isinstance(provider.inner, CachedProvider) and provider.inner.cache.directory == tmp_path


@pytest.mark.parametrize(
    ("name", "source", "hint"), [("LSDR10", "vizier", "datalab"), ("SDSS12", "datalab", "vizier")]
)
def test_a_service_that_does_not_serve_the_catalogue_is_a_configuration_error(name, source, hint):
    with pytest.raises(ConfigurationError, match=f"use {name}={hint}"):
        resolve_provider(name, source, RemoteSettings())


def test_settings_come_from_the_environment(monkeypatch):
    for name, value in {
        "VTAC_CATALOGUES__SERVICES__VIZIER_URL": "http://viz.local",
        "VTAC_CATALOGUES__SERVICES__DATALAB_URL": "http://dl.local",
        "VTAC_CATALOGUES__SERVICES__DEADLINE_S": "4.5",
        "VTAC_CATALOGUES__SERVICES__READ_TIMEOUT_S": "2",
        "VTAC_CATALOGUES__SERVICES__RETRIES": "1",
        "VTAC_CATALOGUES__SERVICES__CACHE_DIR": "/tmp/cones",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings().catalogues.services.remote_settings()
    assert (settings.vizier_url, settings.datalab_url, settings.deadline_s) == (
        "http://viz.local",
        "http://dl.local",
        4.5,
    )
    assert settings.policy.read_timeout_s == 2.0 and settings.policy.retries == 1
    assert str(settings.cache_dir) == "/tmp/cones"
    defaults = CatalogServices().remote_settings()
    assert defaults.cache_dir is None and defaults.vizier_url.startswith("https://vizier")


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_setting_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("VTAC_CATALOGUES__SERVICES__DEADLINE_S", value)
    with pytest.raises(ConfigurationError, match=r"setting catalogues\.services\.deadline_s \(environment\)"):
        load_settings()


# --- footprint and concurrency -----------------------------------------------------------------------------


def test_outside_the_footprint_nothing_is_asked(httpserver):
    guard = FootprintGuard(VizierProvider(httpserver.url_for("/")))
    answer = guard.query("PS1DR1", Cone(10.0, -60.0, 0.2), time.monotonic() + 2)
    assert answer.status is CatalogStatus.NOT_COVERED and "PS1DR1 footprint" in answer.message
    assert httpserver.log == []


def test_a_field_partly_outside_the_footprint_is_asked_and_says_so(httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    guard = FootprintGuard(VizierProvider(httpserver.url_for("/")))
    answer = guard.query("SDSS12", Cone(215.6, 65.0, 0.2), time.monotonic() + 2)  # SDSS12 stops at +65
    assert answer.status is CatalogStatus.OK and "partly outside the footprint" in answer.message


class Sleepy:
    def __init__(self, seconds, error=None):
        self.seconds, self.error = seconds, error

    def query(self, name, cone, deadline):
        time.sleep(self.seconds)
        if self.error:
            raise self.error
        return CatalogAnswer(name, CatalogStatus.OK, None, "done")


def test_catalogues_are_asked_at_once_under_one_deadline():
    start = time.monotonic()
    answers = query_catalogs(
        [("SDSS12", Sleepy(0.3)), ("PS1DR1", Sleepy(0.3)), ("GAIADR3", Sleepy(5.0))], CONE, deadline_s=0.4
    )
    elapsed = time.monotonic() - start
    assert [a.status for a in answers] == [CatalogStatus.OK, CatalogStatus.OK, CatalogStatus.FAILED]
    assert "overall deadline of 0.4 s" in answers[2].message
    assert elapsed < 1.5  # concurrent, and the slow one is not waited for


def test_a_local_file_answers_every_burst_and_a_changed_file_is_read_again(tmp_path):
    from astropy.table import Table  # pylint: disable=import-outside-toplevel

    path = tmp_path / "sdss.fits"
    rows = Table.read(SDSS_FILE)
    rows = rows[np.hypot(rows["RA_ICRS"] - CONE.ra, rows["DE_ICRS"] - CONE.dec) < 0.05]
    rows[:40].write(path)
    provider = FileProvider(str(path))
    first = provider.query("SDSS12", CONE, time.monotonic() + 5)
    edited = table_of(first)
    n_first = len(edited)
    edited["RA"][:] = 0.0  # a build that edits its copy must not change the next burst's answer
    first.message = "edited"
    again = provider.query("SDSS12", CONE, time.monotonic() + 5)
    assert len(table_of(again)) == n_first and table_of(again)["RA"].min() > 200 and again.message != "edited"
    rows.write(path, overwrite=True)
    changed = provider.query("SDSS12", CONE, time.monotonic() + 5)
    assert len(table_of(changed)) > n_first


def test_a_provider_bug_is_a_failed_answer_but_a_bad_file_is_raised():
    answers = query_catalogs([("SDSS12", Sleepy(0.0, RuntimeError("boom")))], CONE, deadline_s=1.0)
    assert answers[0].status is CatalogStatus.FAILED and "RuntimeError: boom" in answers[0].message
    with pytest.raises(InputError):
        query_catalogs([("SDSS12", Sleepy(0.0, InputError("bad file", file="x.fits")))], CONE, deadline_s=1.0)
    assert query_catalogs([], CONE, 1.0) == []


# --- end to end through the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def burst_inputs(tmp_path_factory):
    """A simulated burst on the real SDSS field: a real GCN afterglow near the centre, MXT, two bands."""
    ra, dec = DEMO_CENTRE[0] + 0.05, DEMO_CENTRE[1] - 0.05
    spec = afterglow_burst_spec(ra, dec, BURST_ID, half_width_arcmin=5.0, mxt_r90_arcsec=90.0)
    burst = simulate_burst(load_demo_sky(), spec, np.random.default_rng(5))
    return burst.write(tmp_path_factory.mktemp("inputs")), (ra, dec)


def run_vtac(tmp_path, monkeypatch, httpserver, burst_inputs, catalog="SDSS12=vizier", *, exit_code=0, **env):
    paths, _ = burst_inputs
    settings = {
        "VTAC_CATALOGUES__SERVICES__VIZIER_URL": httpserver.url_for("/"),
        "VTAC_CATALOGUES__SERVICES__DEADLINE_S": "2",
        "VTAC_CATALOGUES__SERVICES__CONNECT_TIMEOUT_S": "0.5",
        "VTAC_CATALOGUES__SERVICES__READ_TIMEOUT_S": "1",
        "VTAC_CATALOGUES__SERVICES__BACKOFF_S": "0.01",
        **env,
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("VTAC_CATALOGUES__SERVICES__CACHE_DIR", raising=False)
    command = ["make-qpo-vt", "--srclist", str(paths["srclist_R"]), "--srclist", str(paths["srclist_B"])]
    command += ["--mxt", str(paths["mxt"]), "--catalog", catalog, "--out", str(tmp_path / "out")]
    assert vtac(command) == exit_code
    return json.loads((tmp_path / "out" / f"QPO_VT_{BURST_ID}.json").read_text())


def new_sources(summary):
    return [c["vt_id"] for c in summary["candidates"] if c["new_src"]]


@pytest.mark.slow
def test_vizier_answer_finds_the_afterglow_new_as_the_local_file_does(
    tmp_path, monkeypatch, httpserver, burst_inputs
):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    summary = run_vtac(tmp_path / "remote", monkeypatch, httpserver, burst_inputs)
    local = run_vtac(tmp_path / "file", monkeypatch, httpserver, burst_inputs, catalog=f"SDSS12={SDSS_FILE}")
    (sdss,) = summary["catalogs"]
    assert sdss["status"] == "ok" and not sdss["truncated"] and sdss["n_sources"] > 1000
    assert summary["verified"] is True
    first = summary["candidates"][0]
    assert first["new_src"] and first["rank"] == 1
    assert new_sources(summary) == new_sources(local)
    request = httpserver.log[0][0]
    assert request.args["-source"] == "V/147/sdss12"


def _slow(request):
    time.sleep(0.8)  # past the 0.5 s deadline, short enough not to hold the one-threaded server long
    return vizier_handler()(request)


FAILURES = {
    "500": (lambda: counting(Response("Internal Server Error", status=500)), "HTTP 500", {}),
    "429": (
        lambda: counting(Response("Too Many Requests", status=429, headers={"Retry-After": "60"})),
        "HTTP 429",
        {},
    ),
    "malformed": (
        lambda: counting(Response(TEMPLATE[:5000], content_type="text/xml")),
        "malformed VOTable",
        {},
    ),
    "error-in-200": (
        lambda: counting(Response(ERROR_ANSWER, content_type="text/xml")),
        "not currently reachable",
        {},
    ),
    "slower-than-deadline": (
        lambda: _slow,
        "no answer within 0.5 s",
        {"VTAC_CATALOGUES__SERVICES__DEADLINE_S": "0.5"},
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_failed_catalogue_is_reported_and_no_source_is_new(
    tmp_path, monkeypatch, httpserver, burst_inputs, failure
):
    make_handler, reason, env = FAILURES[failure]
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(make_handler())
    start = time.monotonic()
    summary = run_vtac(tmp_path, monkeypatch, httpserver, burst_inputs, exit_code=3, **env)  # retry may help
    (sdss,) = summary["catalogs"]
    assert sdss["status"] == "failed" and reason in sdss["message"] and sdss["n_sources"] == 0
    assert summary["verified"] is False
    assert summary["candidates"] and new_sources(summary) == []
    assert time.monotonic() - start < 6.0  # the deadline holds (2 s) plus reading and writing


@pytest.mark.slow
def test_a_truncated_answer_is_reported(tmp_path, monkeypatch, httpserver, burst_inputs):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler(max_rows=300))
    summary = run_vtac(tmp_path, monkeypatch, httpserver, burst_inputs)
    (sdss,) = summary["catalogs"]
    assert sdss["status"] == "ok" and sdss["truncated"] is True and "TRUNCATED" in sdss["message"]
    assert sdss["n_sources"] == 300


@pytest.mark.slow
def test_a_truncated_answer_makes_no_source_new(tmp_path, monkeypatch, httpserver, burst_inputs):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler(max_rows=300))
    summary = run_vtac(tmp_path, monkeypatch, httpserver, burst_inputs)
    assert new_sources(summary) == []


def test_without_any_detection_no_service_is_asked(httpserver):
    from astropy.table import Table

    from vtac.app.catalogs import CatalogSource, ask_catalogs
    from vtac.core.records import DETECTION_COLUMNS, VTObservation

    empty = VTObservation(Table(names=DETECTION_COLUMNS), {})
    sources = [CatalogSource.parse("SDSS12=vizier"), CatalogSource.parse(f"PS1DR1={SDSS_FILE}")]
    settings = RemoteSettings(vizier_url=httpserver.url_for("/"))
    with pytest.raises(InputError, match="RAJ2000"):
        ask_catalogs(sources, empty, settings)  # a file is still read (and this one is no PS1 file)
    (answer,) = ask_catalogs(sources[:1], empty, settings)
    assert answer.status is CatalogStatus.NOT_COVERED and httpserver.log == []
