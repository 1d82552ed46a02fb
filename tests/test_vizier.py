"""VizieR over HTTP against a real local server answering in VizieR's real ASU VOTable format.

The server's answers are written from the real VizieR SDSS DR12 answer in ``tests/data`` (its prelude, FIELD
definitions and trailing INFOs) with the rows of the packaged SDSS field inside the requested cone, sorted by
distance and cut at ``-out.max`` with VizieR's overflow INFOs, as VizieR does.
"""

import re
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table
from werkzeug import Request, Response

from vtac.adapters.http import HttpPolicy
from vtac.adapters.vizier import VizierProvider, answer_from_votable, vizier_params
from vtac.core.coverage import Cone
from vtac.core.records import CatalogStatus
from vtac.core.sky import separation_arcsec
from vtac.simulation.sky import data_path

DATA = Path(__file__).parent / "data"
TEMPLATE = (DATA / "providers_vizier_sdss12.vot").read_text()
ERROR_ANSWER = (DATA / "providers_vizier_error.xml").read_bytes()
SDSS = Table.read(data_path("sdss12_egs_1deg.fits"))
CONE = Cone(215.6, 53.1, 5.0 / 60.0)
FAST = HttpPolicy(connect_timeout_s=0.5, read_timeout_s=0.5, retries=2, backoff_s=0.01, max_backoff_s=0.05)
MAGS = [f"{prefix}{b}mag" for b in "ugriz" for prefix in ("", "e_")]

_OBJID_FIELD = (
    '    <FIELD name="objID" ucd="meta.id;meta.main" datatype="long" width="19"><!-- ucd="ID_MAIN" -->\n'
    """      <DESCRIPTION>Unique SDSS identifier (objid)</DESCRIPTION>
    </FIELD>
"""
)
_R_FIELD = (
    '    <FIELD name="_r" ucd="pos.angDistance" datatype="double" width="7" precision="4" unit="arcmin">\n'
    """      <DESCRIPTION>Distance from center (RAJ2000, DEJ2000) at Epoch=J2000.000</DESCRIPTION>
    </FIELD>
"""
)


def _field(name):
    return re.search(rf'    <FIELD name="{re.escape(name)}".*?</FIELD>\n', TEMPLATE, re.DOTALL).group(0)


def cone_rows(cone, max_rows=None):
    """The packaged SDSS rows inside the cone, nearest first, and whether ``max_rows`` cut them."""
    distance = separation_arcsec(SDSS["RA_ICRS"], SDSS["DE_ICRS"], cone.ra, cone.dec)
    order = np.argsort(distance)
    order = order[distance[order] <= cone.radius_deg * 3600.0]
    overflow = max_rows is not None and len(order) > max_rows
    order = order[:max_rows] if overflow else order
    rows = SDSS[order]
    rows["_r"] = distance[order] / 60.0
    return rows, overflow


def _td(value, fmt):
    return "" if isinstance(value, float) and not np.isfinite(value) else format(value, fmt)


def vizier_votable(rows, *, overflow=False):
    """A VizieR ASU answer (VOTable 1.4, TABLEDATA) for SDSS12 rows, in the template's exact format."""
    prelude = TEMPLATE[: TEMPLATE.index("    <!-- Definitions of GROUPs and FIELDs -->")]
    fields = (
        _R_FIELD + _OBJID_FIELD + "".join(_field(name) for name in ("RA_ICRS", "DE_ICRS", "class", *MAGS))
    )
    lines = [
        "<TR>"
        + "".join(
            f"<TD>{cell}</TD>"
            for cell in (
                _td(float(row["_r"]), "7.4f"),
                str(row["objID"]),
                _td(float(row["RA_ICRS"]), "010.6f"),
                _td(float(row["DE_ICRS"]), "+010.6f"),
                str(row["class"]),
                *(_td(float(row[name]), ".3f") for name in MAGS),
            )
        )
        + "</TR>"
        for row in rows
    ]
    trailer = f'<INFO name="matches" value="{len(rows)}">matching records</INFO>\n'
    if overflow:
        trailer += (
            f'<INFO name="Warning" value="truncated result (maxtup={len(rows)})"/>'
            f'<INFO name="QUERY_STATUS" value="OVERFLOW">truncated result (maxtup={len(rows)})</INFO>\n'
        )
    return (
        prelude
        + "    <!-- Definitions of GROUPs and FIELDs -->\n"
        + fields
        + "<DATA><TABLEDATA>\n"
        + "\n".join(lines)
        + ("\n" if lines else "")
        + "</TABLEDATA></DATA>\n</TABLE>\n"
        + trailer
        + "\n</RESOURCE>\n</VOTABLE>\n"
    ).encode()


def requested_cone(request):
    """The cone of an ASU request (``-c=RA +DEC``, ``-c.rs`` in arcsec)."""
    ra, dec = (float(value) for value in request.args["-c"].split())
    return Cone(ra, dec, float(request.args["-c.rs"]) / 3600.0)


def vizier_handler(*, max_rows=None):
    """A handler answering like VizieR from the packaged SDSS field (``max_rows`` caps ``-out.max``)."""

    def handle(request: Request) -> Response:
        limit = int(request.args["-out.max"]) if max_rows is None else max_rows
        rows, overflow = cone_rows(requested_cone(request), limit)
        return Response(vizier_votable(rows, overflow=overflow), content_type="application/x-votable+xml")

    return handle


def counting(*responses):
    """A handler giving these responses in turn (the last one repeats), counting the calls."""
    calls = []

    def handle(request: Request) -> Response:
        calls.append(time.monotonic())
        response = responses[min(len(calls) - 1, len(responses) - 1)]
        return response if isinstance(response, Response) else response(request)

    handle.calls = calls
    return handle


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
