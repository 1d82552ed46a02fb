"""Legacy Surveys DR10 through Data Lab's TAP (sync ADQL) against a real local server.

The server answers in the TAP VOTable layout (``RESOURCE type="results"``, ``INFO QUERY_STATUS``, as the real
Gaia archive TAP answer of ``shared/formats/vizier``) with Tractor columns made from the packaged SDSS field:
fluxes in nanomaggies from the SDSS magnitudes, so the magnitudes must come back unchanged.
"""

import re
import time

import numpy as np
import pytest
from vizier_answers import cone_rows
from werkzeug import Request, Response

from vtac.adapters.datalab import DatalabProvider, cone_adql
from vtac.adapters.http import HttpPolicy
from vtac.core.coverage import Cone
from vtac.core.records import CatalogStatus

CONE = Cone(215.6, 53.1, 4.0 / 60.0)
FAST = HttpPolicy(connect_timeout_s=0.5, read_timeout_s=0.5, retries=1, backoff_s=0.01, max_backoff_s=0.02)
_FIELDS = [("ls_id", "long"), ("ra", "double"), ("dec", "double"), ("ref_epoch", "float")]
_FIELDS += [("pmra", "float"), ("pmdec", "float")]
_FIELDS += [(f"{kind}_{b}", "float") for b in "griz" for kind in ("flux", "flux_ivar")]


def tap_votable(rows, status="OK", trailer=""):
    """A TAP sync answer with Tractor columns for SDSS rows (flux = 10^((22.5 - mag) / 2.5) nanomaggies)."""
    fields = "\n".join(f'<FIELD name="{name}" datatype="{kind}"/>' for name, kind in _FIELDS)
    lines = []
    for row in rows:
        cells = [str(row["objID"]), f"{row['RA_ICRS']:.7f}", f"{row['DE_ICRS']:.7f}", "0.0", "0.0", "0.0"]
        for band in "griz":
            flux = 10.0 ** ((22.5 - float(row[f"{band}mag"])) / 2.5)
            ivar = (1.0857362 / (flux * float(row[f"e_{band}mag"]))) ** 2
            cells += [f"{flux:.6g}", f"{ivar:.6g}"] if np.isfinite(flux * ivar) else ["NaN", "NaN"]
        lines.append("<TR>" + "".join(f"<TD>{cell}</TD>" for cell in cells) + "</TR>")
    return (
        '<?xml version="1.0"?>\n'
        '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
        f'<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="{status}"/>\n'
        f"<TABLE>\n{fields}\n<DATA><TABLEDATA>\n" + "\n".join(lines) + "\n</TABLEDATA></DATA>\n</TABLE>\n"
        f"{trailer}</RESOURCE>\n</VOTABLE>\n"
    ).encode()


def tap_handler(max_rows=None):
    """Answers the ADQL cone of a TAP sync POST from the packaged SDSS field."""

    def handle(request: Request) -> Response:
        query = request.form["QUERY"]
        circle = re.search(r"CIRCLE\('ICRS', ([-\d.]+), ([-\d.]+), ([\d.]+)\)", query)
        top_clause = re.search(r"SELECT TOP (\d+)", query)
        assert circle is not None and top_clause is not None, query
        ra, dec, radius = (float(v) for v in circle.groups())
        top = int(top_clause.group(1))
        rows, overflow = cone_rows(Cone(ra, dec, radius), min(top, max_rows or top))
        trailer = '<INFO name="QUERY_STATUS" value="OVERFLOW"/>\n' if overflow else ""
        return Response(tap_votable(rows, trailer=trailer), content_type="application/x-votable+xml")

    return handle


def ask(httpserver, max_rows=100_000):
    provider = DatalabProvider(httpserver.url_for("/"), FAST, max_rows)
    assert provider.serves("LSDR10") and not provider.serves("SDSS12")
    return provider.query("LSDR10", CONE, time.monotonic() + 3.0)


def test_a_cone_brings_the_tractor_rows_with_their_ab_magnitudes(httpserver):
    httpserver.expect_request("/tap/sync", method="POST").respond_with_handler(tap_handler())
    answer = ask(httpserver)
    expected, _ = cone_rows(CONE)
    assert answer.status is CatalogStatus.OK and not answer.truncated
    assert sorted(answer.table["ID"]) == sorted(str(value) for value in expected["objID"])
    by_id = {row["ID"]: row for row in answer.table}
    first = expected[np.isfinite(expected["rmag"])][0]
    assert by_id[str(first["objID"])]["MAG_r"] == pytest.approx(float(first["rmag"]), abs=1e-4)
    assert by_id[str(first["objID"])]["ERR_r"] == pytest.approx(float(first["e_rmag"]), rel=1e-3)
    form = httpserver.log[0][0].form
    assert form["REQUEST"] == "doQuery" and form["LANG"] == "ADQL" and form["FORMAT"] == "votable"
    assert "FROM ls_dr10.tractor" in form["QUERY"]


def test_the_adql_is_a_cone_on_the_tractor_table():
    adql = cone_adql(Cone(10.5, -20.25, 0.3), 500)
    assert adql.startswith("SELECT TOP 500 ls_id, ra, dec")
    assert "CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.5000000, -20.2500000, 0.3000000))" in adql


def test_a_tap_error_fails_with_its_message(httpserver):
    body = (
        b'<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">'
        b'<RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">relation "ls_dr10.tractr" '
        b"does not exist</INFO></RESOURCE></VOTABLE>"
    )
    httpserver.expect_request("/tap/sync", method="POST").respond_with_data(body)
    answer = ask(httpserver)
    assert (
        answer.status is CatalogStatus.FAILED and 'relation "ls_dr10.tractr" does not exist' in answer.message
    )


def test_an_overflow_is_truncated(httpserver):
    httpserver.expect_request("/tap/sync", method="POST").respond_with_handler(tap_handler(max_rows=30))
    answer = ask(httpserver)
    assert answer.status is CatalogStatus.OK and answer.truncated and answer.n_sources == 30


def test_a_503_fails_after_a_retry(httpserver):
    httpserver.expect_request("/tap/sync", method="POST").respond_with_data("busy", status=503)
    answer = ask(httpserver)
    assert (
        answer.status is CatalogStatus.FAILED
        and "HTTP 503" in answer.message
        and "2 attempts" in answer.message
    )
    assert len(httpserver.log) == 2
