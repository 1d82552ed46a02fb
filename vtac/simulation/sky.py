"""Real skies and real afterglows to simulate on: the packaged SDSS field and the GCN case table.

A simulated burst is only as credible as its background, so the sky is a real catalogue whose photometry is
turned into predicted VT magnitudes by the same transforms VTAC uses; the afterglows to inject come from the
SVOM VT detections reported in GCN circulars (``vtac/data/README.md`` gives the provenance of both files).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from astropy.table import Table

from vtac.core.photometry import predict_vt
from vtac.core.records import CatalogAnswer
from vtac.errors import ConfigurationError, InputError
from vtac.simulation.burst import AfterglowSpec, BurstSpec

DEMO_CATALOG_FILE = "sdss12_egs_1deg.fits"
DEMO_CATALOG_NAME = "SDSS12"
#: Centre of the packaged field (box RA 215.1-216.1, Dec 52.6-53.6).
DEMO_CENTRE = (215.6, 53.1)
GCN_CASES_FILE = "gcn_svom_vt_cases.csv"
#: SDSS/VizieR class of galaxies (6 = star).
GALAXY_CLASS = 3
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|seconds?|min|minutes?|h|hr|hours?|d|days?)\b", re.I)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?$")
_BURST_ID = re.compile(r"^sb\d{8}$")


def data_path(name: str) -> Path:
    """Path of a file packaged in ``vtac/data``."""
    return Path(str(resources.files("vtac") / "data" / name))


def load_demo_sky() -> Table:
    """The packaged real SDSS field (1 deg^2, 15,083 sources) with predicted VT_R/VT_B magnitudes."""
    # The only I/O of this module, so imported on use. pylint: disable-next=import-outside-toplevel
    from vtac.adapters.catalog_file import read_catalog_file

    return sky_from_catalog(read_catalog_file(DEMO_CATALOG_NAME, data_path(DEMO_CATALOG_FILE)))


def sky_from_catalog(answer: CatalogAnswer) -> Table:
    """A simulation sky from a catalogue answer: ID, RA, DEC, MAG_R, MAG_B (+ PMRA, PMDEC, EPOCH, EXTENDED).

    Rows whose photometry gives neither VT magnitude are dropped: the VT could not be predicted to see them.
    """
    if not answer.usable or answer.table is None:
        raise InputError(f"catalogue {answer.name} is not usable ({answer.status.value}): {answer.message}")
    table = answer.table
    prediction = predict_vt(answer.name, table)
    sky = Table({"ID": table["ID"], "RA": table["RA"], "DEC": table["DEC"]})
    sky["MAG_R"], sky["MAG_B"] = prediction.mag_r, prediction.mag_b
    for name in ("PMRA", "PMDEC", "EPOCH"):
        if name in table.colnames:
            sky[name] = table[name]
    if "CLASS" in table.colnames:
        sky["EXTENDED"] = np.asarray(table["CLASS"]) == GALAXY_CLASS
    return sky[np.isfinite(prediction.mag_r) | np.isfinite(prediction.mag_b)]


def sky_centre(sky: Table) -> tuple[float, float]:
    """Centre of a sky table: the direction of the mean of its unit vectors (safe across RA = 0)."""
    if len(sky) == 0:
        raise InputError("the sky table is empty", column="RA")
    ra, dec = np.radians(np.asarray(sky["RA"], float)), np.radians(np.asarray(sky["DEC"], float))
    x, y, z = (np.mean(np.cos(dec) * np.cos(ra)), np.mean(np.cos(dec) * np.sin(ra)), np.mean(np.sin(dec)))
    return math.degrees(math.atan2(y, x)) % 360.0, math.degrees(math.atan2(z, math.hypot(x, y)))


@dataclass(frozen=True)
class AfterglowCase:
    """One real VT afterglow from the GCN case table: magnitudes at a mid-time, X-ray circle, redshift."""

    name: str
    vt_R_mag: float  # noqa: N815 - the band names of the case table
    vt_B_mag: float  # noqa: N815
    t_mid_s: float
    xray_r90_arcsec: float | None = None
    redshift: float | None = None
    burst_id: str | None = None
    t0: str | None = None

    @property
    def aliases(self) -> list[str]:
        """'GRB 250512B / EP250512a' answers to both names."""
        return [part.strip() for part in self.name.split("/") if part.strip()]

    def matches(self, query: str) -> bool:
        """True if ``query`` names this case (or one of its aliases)."""
        wanted = _normalised(query)
        return any(_normalised(alias) == wanted for alias in [self.name, *self.aliases])

    def afterglow(self, ra: float, dec: float, alpha: float = 1.0) -> AfterglowSpec:
        """This afterglow placed at (ra, dec): the case's VT_R at its mid-time, its B - R colour."""
        colour = self.vt_B_mag - self.vt_R_mag
        return AfterglowSpec(
            ra, dec, self.vt_R_mag, self.t_mid_s, colour if math.isfinite(colour) else 0.5, alpha
        )


def afterglow_burst_spec(
    ra: float,
    dec: float,
    burst_id: str,
    *,
    half_width_arcmin: float,
    mxt_r90_arcsec: float = 60.0,
    case: str = "GRB 260509A",
) -> BurstSpec:
    """A real GCN afterglow (by default the VHF case of GCN 44507) at (ra, dec), with an MXT circle."""
    return BurstSpec(
        ra=ra,
        dec=dec,
        burst_id=burst_id,
        half_width_arcmin=half_width_arcmin,
        afterglow=find_case(case).afterglow(ra, dec),
        mxt_r90_arcsec=mxt_r90_arcsec,
    )


def load_gcn_cases(path: str | Path | None = None) -> list[AfterglowCase]:
    """The VT afterglows of the GCN case table (default: the packaged copy), in file order.

    Rows without a VT_R magnitude or a readable mid-time are skipped: they cannot be injected.
    """
    path = Path(path) if path is not None else data_path(GCN_CASES_FILE)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise InputError(f"cannot read the case table ({exc.strerror})", file=path.name) from exc
    missing = [name for name in ("grb", "vt_R_mag", "vt_B_mag", "vt_tmid") if rows and name not in rows[0]]
    if missing:
        raise InputError("required column missing", file=path.name, column=missing[0])
    cases = [_case(row) for row in rows]
    return [case for case in cases if case is not None]


def find_case(name: str, cases: list[AfterglowCase] | None = None) -> AfterglowCase:
    """The case called ``name`` (case, spaces and either alias do not matter)."""
    cases = load_gcn_cases() if cases is None else cases
    for case in cases:
        if case.matches(name):
            return case
    known = ", ".join(case.aliases[0] for case in cases)
    raise ConfigurationError(f"unknown GCN case '{name}'; known: {known}, or 'dark'")


def parse_duration_s(text: str) -> float | None:
    """Seconds in the first '<number> <unit>' of a free-text time ('54.5 min', '~1.6 h (seq. 3 ...)')."""
    match = _DURATION.search(text or "")
    if match is None:
        return None
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)[0].lower()]


def _case(row: dict[str, str]) -> AfterglowCase | None:
    mag_r = _number(row.get("vt_R_mag"))
    t_mid = parse_duration_s(row.get("vt_tmid", ""))
    if mag_r is None or t_mid is None or t_mid <= 0:
        return None
    mag_b = _number(row.get("vt_B_mag"))
    t0 = (row.get("t0_utc") or "").strip()
    burst_id = (row.get("sb_id") or "").strip()
    return AfterglowCase(
        name=(row.get("grb") or "").strip(),
        vt_R_mag=mag_r,
        vt_B_mag=math.nan if mag_b is None else mag_b,
        t_mid_s=t_mid,
        xray_r90_arcsec=_number(row.get("xray_r90_arcsec")),
        redshift=_number(row.get("redshift")),
        burst_id=burst_id if _BURST_ID.match(burst_id) else None,
        t0=t0 if _ISO_TIME.match(t0) else None,
    )


def _number(text: str | None) -> float | None:
    """A finite number, or None for an empty or non-numeric cell."""
    try:
        value = float((text or "").strip().lstrip("~"))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _normalised(name: str) -> str:
    return re.sub(r"[\s_]", "", name).upper()
