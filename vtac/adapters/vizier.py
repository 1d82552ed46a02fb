"""Reference catalogues from VizieR, through its ASU VOTable cone service.

Interface: ``GET {base}/viz-bin/votable`` with the ASU parameters ::

    -source=V/147/sdss12  -c=214.800000 +52.800000  -c.eq=J2000  -c.rs=<radius arcsec>
    -out=<columns>  -out.add=_r  -sort=_r  -out.max=<rows>  -oc.form=dec   (+ column constraints)

chosen over TAPVizieR because it is VizieR's own, stable, one-request cone (no ADQL, no job), it answers in
the VOTable format of the real samples in ``tests/data``, and ``-sort=_r`` makes a truncated answer the
nearest rows. The base URL is ``VTAC_CATALOGUES__SERVICES__VIZIER_URL`` (default
:data:`DEFAULT_VIZIER_URL`).

Honest answers: an HTTP failure, a VOTable that does not parse, a VOTable carrying ``INFO name="Error"`` or
``QUERY_STATUS=ERROR`` (VizieR answers its errors with HTTP 200) or a table without the expected columns is
``FAILED`` with the reason; ``QUERY_STATUS=OVERFLOW`` (or ``-out.max`` rows reached) is ``OK`` with
``truncated=True``; a VOTable with no table and no error is an empty cone (VizieR omits the TABLE then).
:func:`answer_from_votable` is shared with the Data Lab TAP provider.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from astropy.table import Table

from vtac.adapters.catalog_file import LAYOUTS, read_catalog_table
from vtac.adapters.http import HttpPolicy, fetch
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.errors import InputError, TransientError

DEFAULT_VIZIER_URL = "https://vizier.cds.unistra.fr"
DEFAULT_MAX_ROWS = 100_000


@dataclass(frozen=True)
class VizierTable:
    """A VizieR table and the columns (and constraints) VTAC asks of it."""

    source: str
    columns: tuple[str, ...]
    constraints: tuple[tuple[str, str], ...] = ()


def _mags(bands: str, errors: bool = True) -> tuple[str, ...]:
    return tuple(
        name for b in bands.split() for name in ((f"{b}mag", f"e_{b}mag") if errors else (f"{b}mag",))
    )


VIZIER_TABLES: dict[str, VizierTable] = {
    "SDSS12": VizierTable(
        "V/147/sdss12", ("objID", "RA_ICRS", "DE_ICRS", "class", *_mags("u g r i z")), (("mode", "=1"),)
    ),
    "PS1DR1": VizierTable("II/349/ps1", ("objID", "RAJ2000", "DEJ2000", *_mags("g r i z y"))),
    "GAIADR3": VizierTable(
        "I/355/gaiadr3", ("Source", "RA_ICRS", "DE_ICRS", "pmRA", "pmDE", "Epoch", *_mags("G BP RP"))
    ),
    "USNOB1": VizierTable(
        "I/284/out", ("USNO-B1.0", "RAJ2000", "DEJ2000", "pmRA", "pmDE", *_mags("B1 R1 B2 R2 I", False))
    ),
}


def vizier_params(name: str, cone: Cone, max_rows: int) -> list[tuple[str, str]]:
    """ASU parameters of a cone on one catalogue (a ``KeyError`` for a catalogue VizieR does not serve)."""
    table = VIZIER_TABLES[name]
    return [
        ("-source", table.source),
        ("-c", f"{cone.ra:.6f} {cone.dec:+.6f}"),
        ("-c.eq", "J2000"),
        ("-c.rs", f"{cone.radius_deg * 3600.0:.2f}"),
        ("-out", ",".join(table.columns)),
        ("-out.add", "_r"),
        ("-sort", "_r"),
        ("-out.max", str(max_rows)),
        ("-oc.form", "dec"),
        *table.constraints,
    ]


@dataclass(frozen=True)
class VizierProvider:
    """Cone queries on VizieR (SDSS12, PS1DR1, GAIADR3, USNOB1)."""

    base_url: str = DEFAULT_VIZIER_URL
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    max_rows: int = DEFAULT_MAX_ROWS

    def serves(self, name: str) -> bool:
        """Whether VizieR has this catalogue here."""
        return name in VIZIER_TABLES

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """The catalogue's sources in the cone, or a FAILED answer saying why."""
        url = f"{self.base_url.rstrip('/')}/viz-bin/votable"
        try:
            body = fetch(
                url, params=vizier_params(name, cone, self.max_rows), policy=self.policy, deadline=deadline
            )
        except TransientError as exc:
            return failed(name, f"VizieR {VIZIER_TABLES[name].source}: {exc}")
        return answer_from_votable(name, body, f"VizieR {VIZIER_TABLES[name].source}", self.max_rows)


def failed(name: str, reason: str) -> CatalogAnswer:
    """A FAILED answer: no evidence either way."""
    return CatalogAnswer(name, CatalogStatus.FAILED, None, reason)


def answer_from_votable(name: str, body: bytes, origin: str, max_rows: int) -> CatalogAnswer:
    """Normalise a service's VOTable answer; every way it can be wrong is a FAILED answer with the reason."""
    try:
        document = _parse(body)
    except (ValueError, TypeError, IndexError, KeyError, AttributeError) as exc:
        return failed(name, f"{origin}: malformed VOTable answer ({_short(exc)})")
    infos = list(_infos(document))
    errors = [str(info.value).strip() for info in infos if info.name == "Error" and str(info.value).strip()]
    statuses = {str(info.value).strip().upper() for info in infos if info.name == "QUERY_STATUS"}
    if errors or "ERROR" in statuses:
        return failed(name, f"{origin}: service error: {'; '.join(errors[:3]) or _status_text(infos)}")
    tables = list(document.iter_tables())
    if not tables:
        answer = read_catalog_table(name, _empty_table(name), origin)
        answer.message = f"0 sources from {origin} (no table in the answer: nothing in the cone)"
        return answer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = tables[0].to_table(use_names_over_ids=True)
    try:
        answer = read_catalog_table(name, table, origin)
    except InputError as exc:
        return failed(name, f"unusable answer: {exc}")
    if "OVERFLOW" in statuses or len(table) >= max_rows:
        answer.truncated = True
        answer.message += f" - TRUNCATED by the service at {len(table)} rows: the cone is incomplete"
    return answer


def _parse(body: bytes) -> Any:
    # imported here: astropy.io.votable costs start-up time and only remote catalogues need it
    from astropy.io.votable import parse  # pylint: disable=import-outside-toplevel

    if not body.strip():
        raise ValueError("empty body")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse(io.BytesIO(body), verify="ignore")


def _infos(element: Any) -> Any:
    yield from getattr(element, "infos", ())
    for resource in getattr(element, "resources", ()):
        yield from _infos(resource)
    for table in getattr(element, "tables", ()):
        yield from getattr(table, "infos", ())


def _status_text(infos: list[Any]) -> str:
    """The text of a DALI ``QUERY_STATUS=ERROR`` INFO (a TAP service's error message)."""
    for info in infos:
        if info.name == "QUERY_STATUS" and str(info.value).strip().upper() == "ERROR":
            text = " ".join(str(info.content or "").split())
            return text[:300] or "QUERY_STATUS=ERROR"
    return "QUERY_STATUS=ERROR"


def _empty_table(name: str) -> Table:
    layout = LAYOUTS[name]
    return Table({layout.ra[0]: np.zeros(0), layout.dec[0]: np.zeros(0)})


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
