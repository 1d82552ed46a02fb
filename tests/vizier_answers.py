"""A local VizieR: answers in VizieR's real ASU VOTable format, for the tests of every layer.

Written from the real VizieR SDSS DR12 answer in ``tests/data`` (its prelude, FIELD definitions and trailing
INFOs) with the rows of the packaged SDSS field inside the requested cone, sorted by distance and cut at
``-out.max`` with VizieR's overflow INFOs, as VizieR does.
"""

import re
import time
from collections.abc import Callable

import numpy as np
from astropy.table import Table
from paths import DATA, SDSS_FILE
from werkzeug import Request, Response

from vtac.core.coverage import Cone
from vtac.core.sky import separation_arcsec

TEMPLATE = (DATA / "providers_vizier_sdss12.vot").read_text()
ERROR_ANSWER = (DATA / "providers_vizier_error.xml").read_bytes()
SDSS = Table.read(SDSS_FILE)
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
    match = re.search(rf'    <FIELD name="{re.escape(name)}".*?</FIELD>\n', TEMPLATE, re.DOTALL)
    assert match is not None, name
    return match.group(0)


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


class CountingHandler:
    """A handler giving these responses in turn (the last one repeats), counting the calls in ``calls``."""

    def __init__(self, *responses: Response | Callable[[Request], Response]) -> None:
        self.responses = responses
        self.calls: list[float] = []  # time.monotonic() of each call

    def __call__(self, request: Request) -> Response:
        self.calls.append(time.monotonic())
        response = self.responses[min(len(self.calls) - 1, len(self.responses) - 1)]
        return response if isinstance(response, Response) else response(request)


def counting(*responses: Response | Callable[[Request], Response]) -> CountingHandler:
    """A handler giving these responses in turn (the last one repeats), counting the calls."""
    return CountingHandler(*responses)
