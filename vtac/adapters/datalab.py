"""Legacy Surveys DR10 from the NOIRLab Astro Data Lab, through its TAP service (ADQL, synchronous).

Interface: ``POST {base}/tap/sync`` with ``REQUEST=doQuery``, ``LANG=ADQL``, ``FORMAT=votable``,
``MAXREC=<rows>`` and ::

    SELECT TOP <rows> ls_id, ra, dec, ref_epoch, pmra, pmdec, flux_g, flux_ivar_g, ... flux_z, flux_ivar_z
    FROM ls_dr10.tractor
    WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', <ra>, <dec>, <radius deg>))

The base URL is ``VTAC_CATALOGUES__SERVICES__DATALAB_URL`` (default :data:`DEFAULT_DATALAB_URL`). Fluxes
are in nanomaggies and become AB magnitudes in :mod:`vtac.adapters.catalog_file`. The answer goes through the
same honest VOTable reading as VizieR's (:func:`vtac.adapters.vizier.answer_from_votable`): a TAP error
(``QUERY_STATUS=ERROR``) is FAILED with its message, ``QUERY_STATUS=OVERFLOW`` or ``MAXREC`` rows is a
truncated answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vtac.adapters.http import HttpPolicy, fetch
from vtac.adapters.vizier import DEFAULT_MAX_ROWS, answer_from_votable, failed
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer
from vtac.errors import TransientError

DEFAULT_DATALAB_URL = "https://datalab.noirlab.edu"
LS_TABLE = "ls_dr10.tractor"
LS_COLUMNS = (
    "ls_id",
    "ra",
    "dec",
    "ref_epoch",
    "pmra",
    "pmdec",
    *(f"{kind}_{band}" for band in "griz" for kind in ("flux", "flux_ivar")),
)


def cone_adql(cone: Cone, max_rows: int) -> str:
    """The ADQL of a cone on the Legacy Surveys DR10 Tractor catalogue."""
    return (
        f"SELECT TOP {max_rows} {', '.join(LS_COLUMNS)} FROM {LS_TABLE} "
        f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), "
        f"CIRCLE('ICRS', {cone.ra:.7f}, {cone.dec:.7f}, {cone.radius_deg:.7f}))"
    )


@dataclass(frozen=True)
class DatalabProvider:
    """Cone queries on Legacy Surveys DR10 (LSDR10) through Data Lab's TAP."""

    base_url: str = DEFAULT_DATALAB_URL
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    max_rows: int = DEFAULT_MAX_ROWS

    def serves(self, name: str) -> bool:
        """Data Lab is used here for the Legacy Surveys only."""
        return name == "LSDR10"

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """The Tractor sources in the cone, or a FAILED answer saying why."""
        form = {
            "REQUEST": "doQuery",
            "LANG": "ADQL",
            "FORMAT": "votable",
            "MAXREC": str(self.max_rows),
            "QUERY": cone_adql(cone, self.max_rows),
        }
        url = f"{self.base_url.rstrip('/')}/tap/sync"
        origin = f"Data Lab {LS_TABLE}"
        try:
            body = fetch(url, data=form, policy=self.policy, deadline=deadline)
        except TransientError as exc:
            return failed(name, f"{origin}: {exc}")
        return answer_from_votable(name, body, origin, self.max_rows)
