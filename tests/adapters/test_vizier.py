"""VizieR over HTTP against a real local server answering in VizieR's real ASU VOTable format
(``vizier_answers.py``)."""

import time

import pytest
from vizier_answers import ERROR_ANSWER, TEMPLATE, cone_rows, counting, vizier_handler, vizier_votable
from werkzeug import Response

from vtac.adapters.http import HttpPolicy
from vtac.adapters.vizier import VizierProvider, answer_from_votable, vizier_params
from vtac.core.coverage import Cone
from vtac.core.records import CatalogStatus

CONE = Cone(215.6, 53.1, 5.0 / 60.0)
FAST = HttpPolicy(connect_timeout_s=0.5, read_timeout_s=0.5, retries=2, backoff_s=0.01, max_backoff_s=0.05)


def provider(httpserver, policy=FAST, max_rows=100_000):
    return VizierProvider(httpserver.url_for("/"), policy, max_rows)


def ask(httpserver, deadline_s=3.0, **kwargs):
    return provider(httpserver, **kwargs).query("SDSS12", CONE, time.monotonic() + deadline_s)


def test_a_cone_brings_every_catalogue_row_inside_it(httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    answer = ask(httpserver)
    expected, _ = cone_rows(CONE)
    assert answer.status is CatalogStatus.OK and not answer.truncated
    assert sorted(answer.table["ID"]) == sorted(str(value) for value in expected["objID"])
    assert len(answer.table) > 400
    row = answer.table[list(answer.table["ID"]).index(str(expected["objID"][0]))]
    assert row["MAG_r"] == pytest.approx(float(expected["rmag"][0]), abs=1e-3)
    assert row["CLASS"] == expected["class"][0]
    request = httpserver.log[0][0]
    assert request.args["-source"] == "V/147/sdss12" and request.args["mode"] == "=1"
    assert float(request.args["-c.rs"]) == pytest.approx(300.0)
    assert "objID" in request.args["-out"].split(",")


def test_an_empty_cone_is_an_ok_answer_with_no_source(httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_data(
        vizier_votable(cone_rows(Cone(10.0, 10.0, 0.01))[0])
    )
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.OK and answer.n_sources == 0 and not answer.truncated


def test_an_answer_without_table_or_error_is_an_empty_cone():
    body = TEMPLATE[: TEMPLATE.index("<RESOURCE")] + "</VOTABLE>\n"
    answer = answer_from_votable("SDSS12", body.encode(), "VizieR", 10)
    assert answer.status is CatalogStatus.OK and answer.n_sources == 0
    assert "no table" in answer.message


def test_a_passing_500_is_retried_and_answers(httpserver):
    handler = counting(Response("oops", status=500), vizier_handler())
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(handler)
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.OK and len(handler.calls) == 2


def test_a_lasting_500_fails_after_the_bounded_retries(httpserver):
    handler = counting(Response("oops", status=500))
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(handler)
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.FAILED and answer.table is None
    assert "HTTP 500" in answer.message and "3 attempts" in answer.message
    assert len(handler.calls) == 3


def test_a_404_is_not_retried(httpserver):
    handler = counting(Response("no such page", status=404))
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(handler)
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.FAILED and "HTTP 404" in answer.message
    assert len(handler.calls) == 1


def test_429_retry_after_is_honoured(httpserver):
    handler = counting(Response("slow down", status=429, headers={"Retry-After": "1"}), vizier_handler())
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(handler)
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.OK
    assert handler.calls[1] - handler.calls[0] >= 0.95


def test_429_asking_to_wait_past_the_deadline_fails_at_once(httpserver):
    handler = counting(Response("slow down", status=429, headers={"Retry-After": "30"}))
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(handler)
    start = time.monotonic()
    answer = ask(httpserver, deadline_s=2.0)
    assert answer.status is CatalogStatus.FAILED and "HTTP 429" in answer.message
    assert "deadline" in answer.message and time.monotonic() - start < 1.0 and len(handler.calls) == 1


def test_an_answer_slower_than_the_timeout_fails(httpserver):
    def slow(request):
        time.sleep(0.8)
        return vizier_handler()(request)

    httpserver.expect_request("/viz-bin/votable").respond_with_handler(slow)
    answer = ask(httpserver, policy=HttpPolicy(read_timeout_s=0.2, retries=2, backoff_s=0.01))
    assert answer.status is CatalogStatus.FAILED and "no answer within 0.2 s" in answer.message


@pytest.mark.parametrize(
    "body",
    [b"", b"<html><body>Proxy error</body></html>", TEMPLATE[:3000].encode(), b"\x00\x01 not xml"],
    ids=["empty", "html", "cut-short", "binary"],
)
def test_a_malformed_answer_fails(httpserver, body):
    httpserver.expect_request("/viz-bin/votable").respond_with_data(body)
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.FAILED and answer.table is None
    assert "VizieR V/147/sdss12" in answer.message


def test_the_real_error_in_200_answer_fails_with_its_reason(httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_data(ERROR_ANSWER)
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.FAILED
    assert "The database is not currently reachable" in answer.message


def test_an_answer_without_positions_fails():
    body = TEMPLATE.replace('name="RA_ICRS"', 'name="ra_x"').encode()
    answer = answer_from_votable("SDSS12", body, "VizieR V/147/sdss12", 100)
    assert answer.status is CatalogStatus.FAILED and "RA_ICRS" in answer.message


def test_an_overflow_is_a_truncated_answer_that_says_so(httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler(max_rows=40))
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.OK and answer.truncated and answer.n_sources == 40
    assert "TRUNCATED" in answer.message


def test_reaching_out_max_is_truncated_even_without_the_marker(httpserver):
    httpserver.expect_request("/viz-bin/votable").respond_with_handler(vizier_handler())
    answer = ask(httpserver, max_rows=25)
    assert answer.truncated and answer.n_sources == 25


def test_connection_refused_fails_after_retries():
    closed = VizierProvider("http://127.0.0.1:9", FAST)
    answer = closed.query("SDSS12", CONE, time.monotonic() + 3.0)
    assert answer.status is CatalogStatus.FAILED and "cannot connect to 127.0.0.1:9" in answer.message


def test_every_vizier_catalogue_asks_its_own_table():
    sources = {
        name: dict(vizier_params(name, CONE, 10))["-source"] for name in ("PS1DR1", "GAIADR3", "USNOB1")
    }
    assert sources == {"PS1DR1": "II/349/ps1", "GAIADR3": "I/355/gaiadr3", "USNOB1": "I/284/out"}


def test_retry_after_may_be_seconds_or_an_http_date():
    from email.utils import formatdate

    from vtac.adapters.http import retry_after_seconds

    assert retry_after_seconds("7") == 7.0
    assert 25.0 < retry_after_seconds(formatdate(time.time() + 30.0, usegmt=True)) <= 30.0
    assert retry_after_seconds(formatdate(time.time() - 30.0, usegmt=True)) == 0.0
    assert retry_after_seconds(None) == retry_after_seconds("soon") == 0.0


def test_a_deadline_already_past_asks_nothing(httpserver):
    answer = provider(httpserver).query("SDSS12", CONE, time.monotonic() - 1.0)
    assert answer.status is CatalogStatus.FAILED and "no time left" in answer.message
    assert httpserver.log == []


def test_an_invalid_url_fails_with_the_reason():
    answer = VizierProvider("http://", FAST).query("SDSS12", CONE, time.monotonic() + 1.0)
    assert answer.status is CatalogStatus.FAILED and "failed (InvalidURL" in answer.message
