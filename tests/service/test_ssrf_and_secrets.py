"""No SSRF and no secret printed (issue 9, items 5 and 6).

Inbound ``sdb_url`` values are fetched only under configured SDB base URLs, without redirects or
credentials, streamed under a size cap and a whole-answer deadline; no body of a failed fetch reaches a
reason. Every URL in logs, reasons, notifications and errors goes through :func:`vtac.redaction.redact`.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from paths import SDSS
from service_rig import BURST_ID, product
from werkzeug import Response

from vtac.entrypoints.cli import main as vtac
from vtac.errors import InputError, TransientError, VtacError
from vtac.redaction import redact
from vtac.service.logs import JsonFormatter
from vtac.service.outcome import Action
from vtac.service.processor import Processor, open_processor
from vtac.service.sdb import FileSdb, HttpSdb, check_fetch_url
from vtac.service.state import open_input_store, open_sqlite_store
from vtac.settings import VtacSettings

ALLOWED = ["https://sdb.example:8443/files"]


@pytest.mark.parametrize(
    "url",
    [
        "https://sdb.example:8443/files/R.fits",
        "https://SDB.example:8443/files/a/b/R.fits",
    ],
)
def test_urls_under_an_allowed_base_are_accepted(url):
    check_fetch_url(url, ALLOWED)
    check_fetch_url("http://sdb.example/x", ["http://sdb.example:80"])  # default port is the same port


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "not under an allowed"),
        ("https://localhost:8443/files/R.fits", "not under an allowed"),
        ("https://[::1]:8443/files/R.fits", "not under an allowed"),
        ("https://0x7f000001:8443/files/R.fits", "not under an allowed"),
        ("https://sdb.example:9999/files/R.fits", "not under an allowed"),
        ("http://sdb.example:8443/files/R.fits", "not under an allowed"),
        ("https://sdb.example:8443/filesX/R.fits", "not under an allowed"),
        ("https://sdb.example:8443/admin", "not under an allowed"),
        ("https://sdb.example:8443/files/../admin", "dot segments"),
        ("https://sdb.example:8443/files/%2e%2e/admin", "dot segments"),
        ("https://user:pw@sdb.example:8443/files/R.fits", "credentials"),
        ("file:///etc/passwd", "only http"),
        ("ftp://sdb.example/files/R.fits", "only http"),
    ],
)
def test_any_other_url_is_refused_before_any_request(url, why):
    with pytest.raises(InputError, match=why) as error:
        check_fetch_url(url, ALLOWED)
    assert "pw@" not in str(error.value)


def test_without_an_allow_list_no_url_is_fetched():
    with pytest.raises(InputError, match="need an allowed SDB base URL"):
        check_fetch_url("https://sdb.example:8443/files/R.fits", [])


# --- the processor against a real HTTP server ---------------------------------------------------------------


def _processor(tmp_path, httpserver, **sdb_changes) -> Processor:
    sdb = {
        "fetch_urls": [httpserver.url_for("/files")],
        "max_attempts": 1,
        "read_timeout_s": 2.0,
    } | sdb_changes
    config = VtacSettings(state_dir=tmp_path, catalogues={"sources": [SDSS]}, sdb=sdb)
    fetcher = HttpSdb("", config.sdb)
    store = open_sqlite_store(tmp_path / "state.db")
    return Processor(config, store=store, sdb=FileSdb(tmp_path / "sdb"), fetch=fetcher.fetch)


def _by_reference(burst, url: str) -> bytes:
    return product("QSRCLIST_VT", burst[1]["srclist_R"], content=None, sdb_url=url)


def test_a_url_outside_the_allow_list_is_rejected_and_never_requested(tmp_path, httpserver, burst):
    processor = _processor(tmp_path, httpserver)
    outcome = processor.process(_by_reference(burst, httpserver.url_for("/internal/admin")))

    assert outcome.action is Action.REJECT and "not under an allowed SDB base URL" in outcome.reason
    assert httpserver.log == []
    assert processor.store.burst_state(BURST_ID).version == 0


@pytest.mark.parametrize("escape", ["../internal/admin", "%2e%2e/internal/admin", ".%2E\\internal\\admin"])
def test_dot_segments_are_refused_as_sent_not_resolved_into_an_allowed_path(
    tmp_path, httpserver, burst, escape
):
    # Resolved, "/files/sub/../R.fits" is "/files/R.fits", under the allow-list: it must still be refused.
    processor = _processor(tmp_path, httpserver)
    for url in (httpserver.url_for(f"/files/sub/{escape}"), httpserver.url_for("/files/sub/../R.fits")):
        outcome = processor.process(_by_reference(burst, url))

        assert outcome.action is Action.REJECT and "dot segments" in outcome.reason
    assert httpserver.log == []
    assert processor.store.burst_state(BURST_ID).version == 0


def test_a_redirect_is_refused_and_not_followed(tmp_path, httpserver, burst):
    httpserver.expect_request("/files/R.fits").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/internal/admin")}
    )
    outcome = _processor(tmp_path, httpserver).process(
        _by_reference(burst, httpserver.url_for("/files/R.fits"))
    )

    assert outcome.action is Action.REJECT and "redirect refused" in outcome.reason
    assert [request.path for request, _ in httpserver.log] == ["/files/R.fits"]


def test_the_body_of_a_failed_fetch_never_reaches_the_reason(tmp_path, httpserver, burst):
    httpserver.expect_request("/files/R.fits").respond_with_data("internal: db password=hunter2", status=404)
    outcome = _processor(tmp_path, httpserver).process(
        _by_reference(burst, httpserver.url_for("/files/R.fits"))
    )

    assert outcome.action is Action.REJECT and "HTTP 404" in outcome.reason
    assert "internal" not in outcome.reason and "hunter2" not in outcome.reason


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_answer_beyond_the_size_cap_is_rejected_naming_the_bound(tmp_path, httpserver, burst, declared):
    big = b"SIMPLE  " + bytes(300_000)

    def answer(_request):
        if declared:
            return Response(big)
        return Response((big[i : i + 65536] for i in range(0, len(big), 65536)), direct_passthrough=True)

    httpserver.expect_request("/files/R.fits").respond_with_handler(answer)
    processor = _processor(tmp_path, httpserver, max_fetch_bytes=100_000)
    outcome = processor.process(_by_reference(burst, httpserver.url_for("/files/R.fits")))

    assert outcome.action is Action.REJECT and "max_fetch_bytes=100000" in outcome.reason


def test_a_trickling_server_cannot_hold_the_worker_beyond_the_deadline(tmp_path, httpserver, burst):
    def trickle(_request):
        def drip():
            for _ in range(12):
                yield b"S"
                time.sleep(0.25)

        return Response(drip(), direct_passthrough=True)

    httpserver.expect_request("/files/R.fits").respond_with_handler(trickle)
    processor = _processor(tmp_path, httpserver, fetch_deadline_s=1.0)
    started = time.monotonic()
    outcome = processor.process(_by_reference(burst, httpserver.url_for("/files/R.fits")))

    assert outcome.action is Action.RETRY and "fetch_deadline_s=1" in outcome.reason
    assert time.monotonic() - started < 2.0


# --- secrets ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("amqp://vtac:br0ker@rabbit:5672/%2F", "br0ker"),
        ("amqps://vtac:br0ker@rabbit/vhost?heartbeat=30", "br0ker"),
        ("https://svc:sdbpass@sdb.example/v1", "sdbpass"),
        ("https://sdb.example/v1/x?token=tok123&x=1", "tok123"),
        ("postgresql://vtac:pgpass@db:5432/vtac", "pgpass"),
        ("postgresql://vtac@db:5432/vtac?password=pgpass&sslmode=require", "pgpass"),
        ("host=db user=vtac password=pgpass dbname=vtac", "pgpass"),
        ("Authorization: Bearer tok123", "tok123"),
    ],
)
def test_redaction_removes_every_secret_form_and_keeps_the_rest(text, secret):
    shown = redact(f"failed: {text}: refused")
    assert secret not in shown and "***" in shown
    assert shown.startswith("failed: ") and shown.endswith("refused")


def test_credentials_in_the_sdb_url_are_sent_as_auth_never_shown_in_locations_or_logs(
    tmp_path, httpserver, burst, caplog
):
    for acronym in ("QPO_VT", "QCANDI_VT", "QPO_VT_SUMMARY"):
        httpserver.expect_request(
            f"/sdb/v1/bursts/{BURST_ID}/products/{acronym}/versions/1"
        ).respond_with_data("", status=201)
    base = httpserver.url_for("/sdb").replace("http://", "http://svc:sdbpass@")
    settings = VtacSettings(state_dir=tmp_path, catalogues={"sources": [SDSS]}, sdb={"url": base})
    processor = open_processor(settings)
    try:
        outcome = processor.process(product("QSRCLIST_VT", burst[1]["srclist_R"]))
    finally:
        processor.store.close()

    assert outcome.action is Action.ACK
    body = outcome.notifications[0].body.decode()
    assert "sdbpass" not in body and "svc:" not in body
    assert all(request.authorization.password == "sdbpass" for request, _ in httpserver.log)
    assert "sdbpass" not in caplog.text


def test_the_json_log_lines_are_redacted():
    try:
        raise TransientError("cannot reach amqp://vtac:br0ker@rabbit/")
    except TransientError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "GET %s", ("https://u:sdbpass@s/",), None)
        record.exc_info = __import__("sys").exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert "sdbpass" not in line["message"] and "br0ker" not in line["exception"]


def test_a_postgresql_password_never_appears_in_the_startup_error(capsys, monkeypatch, tmp_path):
    for url in (
        "postgresql://vtac:pgpass@127.0.0.1:1/db",
        "postgresql://vtac@127.0.0.1:1/db?password=pgpass",
    ):
        with pytest.raises(VtacError) as error:
            open_input_store(url)
        assert "pgpass" not in str(error.value) and "127.0.0.1" in str(error.value)
    monkeypatch.setenv("VTAC_STATE_URL", "postgresql://vtac@127.0.0.1:1/db?password=pgpass")
    monkeypatch.setenv("VTAC_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("VTAC_HEALTH_PORT", "0")
    monkeypatch.setenv("VTAC_CATALOGUES__SOURCES", SDSS)
    assert vtac(["serve"]) == 3
    assert "pgpass" not in capsys.readouterr().err
