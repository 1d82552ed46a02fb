"""What every human- or community-facing product of one burst version is made from, gathered once.

The candidates come from the JSON summary (it carries ``probability`` and ``reasons`` when the ranking gives
them; ``score`` otherwise); the sequence dates, exposures and limits, and the catalogue tables for the chart,
from the :class:`QpoVtResult`. Times are quoted after the trigger time T0 when it is known, else after the
start of the first VT stack (and every product says which).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from vtac.adapters.dust import GalacticReddening
from vtac.adapters.summary import circle_label
from vtac.adapters.survey import SurveySettings
from vtac.core.constants import VT_FRAME_S
from vtac.core.records import BAND_NAMES, SEQUENCES, QpoVtResult, sequence_band, sequence_index
from vtac.core.sky import separation_arcsec
from vtac.errors import InputError

#: VT astrometry of a VHF candidate as quoted in GCN circulars (GCN 44507: "uncertainty of 0.50 arcsec").
POSITION_ERROR_ARCSEC = 0.5
ROLES = ("observation", "test")
MIN_HALF_WIDTH_ARCSEC = 45.0
MAX_HALF_WIDTH_ARCSEC = 900.0


@dataclass(frozen=True)
class VersionEntry:
    """One earlier (or the current) version of a burst's products, for citations and the page's history."""

    version: int
    #: When it was made (UTC, ``YYYY-MM-DDThh:mm:ss``): its input received, the build following at once.
    created: str = ""
    note: str = ""
    #: Address of that version's burst page when it was stored ('' when not: superseded, failed).
    page: str = ""
    #: A VOEvent of that version was issued (stored): only those are cited as superseded.
    voevent: bool = False


@dataclass(frozen=True)
class ExtrasContext:
    """What the products alone do not say: product version, trigger time, real or simulated, links.

    ``simulated`` makes the VOEvent role ``test`` and the notice's ``alert_tense`` ``test``; ``links`` maps a
    product label (``QPO_VT``, ``QCANDI_VT``, ``summary``, ...) to the address the page links to.
    """

    version: int = 1
    t0: datetime | None = None
    simulated: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    links: Mapping[str, str] = field(default_factory=dict)
    history: Sequence[VersionEntry] = ()
    #: Where the next version's page will be, if one is made and its extras stored ('' : not linked).
    next_page: str = ""
    #: Where to fetch a survey image of the chart's frame (None: no survey image, the catalogue chart only).
    survey: SurveySettings | None = None

    @property
    def role(self) -> str:
        """VOEvent role."""
        return "test" if self.simulated else "observation"


@dataclass(frozen=True)
class Decay:
    """The decay index of a candidate as the core fitted it (ALPHA and ALPHA_ERR of the products, f ~
    (t - T0)^-alpha): the one number every output prints; the extras never refit it."""

    alpha: float
    alpha_err: float | None

    def text(self) -> str:
        """``alpha = 1.02 ± 0.05`` (the error omitted when unknown)."""
        error = f" ± {self.alpha_err:.2f}" if self.alpha_err is not None else ""
        return f"alpha = {self.alpha:.2f}{error}"


def n_frames(exposure_s: float | None) -> int | None:
    """Number of 50 s VT frames stacked in an exposure, None when unknown."""
    if exposure_s is None or not math.isfinite(exposure_s) or exposure_s <= 0:
        return None
    return max(1, round(exposure_s / VT_FRAME_S))


@dataclass(frozen=True)
class SequenceView:
    """One VT sequence as a circular quotes it."""

    name: str
    start: datetime | None
    exposure_s: float | None
    maglim: float | None
    t_mid_s: float | None

    @property
    def band(self) -> str:
        """'R' or 'B'."""
        return sequence_band(self.name)

    @property
    def band_name(self) -> str:
        """'VT_R' or 'VT_B'."""
        return BAND_NAMES[self.band]

    @property
    def nth(self) -> int:
        """0-based index in its band."""
        return sequence_index(self.name)

    @property
    def frames(self) -> int | None:
        """Number of 50 s frames stacked."""
        return n_frames(self.exposure_s)


@dataclass(frozen=True)
class Measurement:
    """A candidate in one sequence: magnitude and error when detected, the limit otherwise."""

    sequence: SequenceView
    mag: float | None
    err: float | None

    @property
    def detected(self) -> bool:
        """Whether VT saw the candidate in this sequence."""
        return self.mag is not None


@dataclass(frozen=True)
class CandidateView:
    """One ranked candidate with its photometry and fitted decay."""

    data: Mapping[str, Any]
    measurements: list[Measurement]

    @property
    def decay(self) -> Decay | None:
        """ALPHA ± ALPHA_ERR of the products; None where the detections do not determine the decay."""
        alpha = self.data.get("alpha")
        if alpha is None:
            return None
        error = self.data.get("alpha_err")
        return Decay(float(alpha), None if error is None else float(error))

    @property
    def vt_id(self) -> int:
        """VT_ID of the source."""
        return int(self.data["vt_id"])

    @property
    def rank(self) -> int:
        """1 for the best."""
        return int(self.data["rank"])

    @property
    def probability(self) -> float | None:
        """The ranking's probability when it gives one, else its score (both in [0, 1])."""
        value = self.data.get("probability")
        if value is None:
            value = self.data.get("score")
        return None if value is None else float(value)

    @property
    def reasons(self) -> list[str]:
        """Why the ranking likes (or dislikes) the candidate, when it says."""
        return [str(reason) for reason in self.data.get("reasons") or []]

    @property
    def ra(self) -> float:
        """Right ascension (deg)."""
        return float(self.data["ra"])

    @property
    def dec(self) -> float:
        """Declination (deg)."""
        return float(self.data["dec"])

    @property
    def b_minus_r(self) -> float | None:
        """Mean VT_B - VT_R colour."""
        value = self.data.get("b_minus_r")
        return None if value is None else float(value)

    @property
    def redshift_hint(self) -> str | None:
        """'z<4', 'high-z', ... or None."""
        return self.data.get("redshift_hint")

    @property
    def reddening(self) -> GalacticReddening | None:
        """Galactic E(B-V) at the candidate (None: unknown)."""
        value = self.data.get("galactic_ebv")
        return None if value is None else GalacticReddening(float(value))

    def detections(self) -> list[Measurement]:
        """Measurements where the candidate was seen, in time order."""
        return [m for m in self.measurements if m.detected]


@dataclass(frozen=True)
class BurstView:
    """One version of one burst, ready to be written in any form."""

    result: QpoVtResult
    summary: Mapping[str, Any]
    context: ExtrasContext
    sequences: list[SequenceView]
    candidates: list[CandidateView]
    best_ids: list[int]
    time_origin: datetime | None
    #: The trigger time every output quotes (the summary's, i.e. the one the decay fit used), None: unknown.
    t0: datetime | None = None

    @property
    def burst_id(self) -> str:
        """SVOM burst id."""
        return str(self.summary["burst_id"])

    @property
    def t0_known(self) -> bool:
        """Times are after the trigger (True) or after the first VT stack (False)."""
        return self.t0 is not None

    @property
    def t0_source(self) -> str | None:
        """Where T0 came from (``SVOM ECLAIRs notice``, ``QPO_MXT``, ``TT_ECL``, ``--t0``), None: unknown."""
        return self.summary.get("trigger_time_source") if self.t0_known else None

    @property
    def t0_origin(self) -> str | None:
        """Where T0 came from, in words ("the SVOM ECLAIRs notice", "the --t0 option"), None: unknown."""
        source = self.t0_source
        if not source:
            return None
        return T0_ORIGINS.get(source, f"the {source}")

    @property
    def time_label(self) -> str:
        """What the times are counted from, for axis labels and table headers."""
        return "T0" if self.t0_known else "first VT stack"

    @property
    def times_since(self) -> str:
        """The sentence every output prints next to a time: what it counts from."""
        return "times since T0" if self.t0_known else "times since the first VT stack (T0 unknown)"

    @property
    def xray_label(self) -> str:
        """What the X-ray circle is called: its instrument (``ECLAIRs``, ``MXT``...), else ``X-ray``."""
        return circle_label((self.summary.get("mxt") or {}).get("instrument"))

    @property
    def xray_off_field(self) -> str | None:
        """Why the X-ray circle misses the VT field (None: it does not, or there is none)."""
        return self.summary.get("xray_off_field")

    @property
    def verified(self) -> bool:
        """At least one reference catalogue answered (else no candidate can be called new)."""
        return bool(self.summary.get("verified"))

    @property
    def best(self) -> CandidateView | None:
        """The best candidate (the one notices are about), or None."""
        best = [c for c in self.candidates if c.vt_id in self.best_ids]
        return best[0] if best else None

    @property
    def reddening(self) -> GalacticReddening | None:
        """Galactic E(B-V) of the VT field (None: unknown)."""
        value = self.summary.get("galactic_ebv")
        return None if value is None else GalacticReddening(float(value))

    def best_candidates(self) -> list[CandidateView]:
        """The best candidates, best first."""
        return [c for c in self.candidates if c.vt_id in self.best_ids]


#: T0 sources whose name alone does not read as a phrase ("from the TT_ECL"): what to say instead.
T0_ORIGINS = {
    "QPO_MXT": "the QPO_MXT file",
    "TT_ECL": "the source lists' TT_ECL",
    "--t0": "the --t0 option",
}

#: Without an X-ray circle the chart frames the best candidates and the next ones up to this rank.
FRAMED_RANKS = 3


def chart_frame(summary: Mapping[str, Any], combined: Any) -> tuple[float, float, float]:
    """Centre of the finding chart and its half-width (arcsec): the X-ray circle and every candidate when
    VT observed the circle; otherwise zoomed on the best candidates (the top ranks), else the field."""
    mxt = summary.get("mxt") if not summary.get("xray_off_field") else None
    candidates = sorted(summary.get("candidates", []), key=lambda c: c["rank"])
    if not mxt:
        best = {int(vt_id) for vt_id in summary.get("best_candidates", [])}
        candidates = [c for c in candidates if int(c["vt_id"]) in best or c["rank"] <= FRAMED_RANKS]
    if mxt:
        ra0, dec0, radius = float(mxt["ra"]), float(mxt["dec"]), 1.5 * float(mxt["r90_arcsec"])
    elif candidates:
        ra0, dec0, radius = float(candidates[0]["ra"]), float(candidates[0]["dec"]), MIN_HALF_WIDTH_ARCSEC
    elif len(combined):  # the whole VT field
        ra0, dec0 = float(np.median(combined["RA"])), float(np.median(combined["DEC"]))
        ras, decs = np.asarray(combined["RA"], float), np.asarray(combined["DEC"], float)
        radius = 1.05 * float(np.max(separation_arcsec(ras, decs, ra0, dec0)))
    else:
        return 0.0, 0.0, MIN_HALF_WIDTH_ARCSEC
    if candidates:
        ras = np.array([float(c["ra"]) for c in candidates])
        decs = np.array([float(c["dec"]) for c in candidates])
        radius = max(radius, 1.15 * float(np.max(separation_arcsec(ras, decs, ra0, dec0))))
    return ra0, dec0, min(max(radius, MIN_HALF_WIDTH_ARCSEC), MAX_HALF_WIDTH_ARCSEC)


def burst_view(result: QpoVtResult, summary: Mapping[str, Any], context: ExtrasContext) -> BurstView:
    """Join the summary's candidates with the sequences' dates and limits; fit each candidate's decay."""
    if summary.get("burst_id") != result.burst_id:
        raise InputError(
            f"summary is for burst {summary.get('burst_id')!r}, the result for {result.burst_id!r}",
            column="burst_id",
        )
    starts = {name: parse_utc(info.date_obs) for name, info in result.sequences.items()}
    known = [start for start in starts.values() if start is not None]
    t0 = parse_utc(summary.get("trigger_time")) or (_naive(context.t0) if context.t0 is not None else None)
    origin = t0 if t0 is not None else (min(known) if known else None)
    sequences = [
        _sequence_view(name, result, starts[name], origin) for name in SEQUENCES if name in result.sequences
    ]
    sequences.sort(key=lambda s: (s.t_mid_s if s.t_mid_s is not None else math.inf, s.nth, s.band))
    candidates = [_candidate_view(data, sequences) for data in summary.get("candidates", [])]
    return BurstView(
        result=result,
        summary=summary,
        context=context,
        sequences=sequences,
        candidates=sorted(candidates, key=lambda c: c.rank),
        best_ids=[int(vt_id) for vt_id in summary.get("best_candidates", [])],
        time_origin=origin,
        t0=t0,
    )


def _sequence_view(
    name: str, result: QpoVtResult, start: datetime | None, origin: datetime | None
) -> SequenceView:
    info = result.sequences[name]
    exposure = info.exposure_s if info.exposure_s is not None and math.isfinite(info.exposure_s) else None
    t_mid = None
    if start is not None and origin is not None:
        t_mid = (start - origin).total_seconds() + 0.5 * (exposure or 0.0)
    maglim = info.maglim if math.isfinite(info.maglim) else None
    return SequenceView(name, start, exposure, maglim, t_mid)


def _candidate_view(data: Mapping[str, Any], sequences: list[SequenceView]) -> CandidateView:
    magnitudes = data.get("magnitudes") or {}
    measurements = []
    for sequence in sequences:
        value = magnitudes.get(sequence.name)
        mag = None if value is None else value.get("mag")
        err = None if value is None else value.get("err")
        measurements.append(Measurement(sequence, mag, err))
    return CandidateView(data, measurements)


def parse_utc(value: str | None) -> datetime | None:
    """ISO date-time as naive UTC; None when absent or unreadable."""
    if not value:
        return None
    try:
        return _naive(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def _naive(moment: datetime) -> datetime:
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def iso_utc(moment: datetime, *, digits: int = 3) -> str:
    """``YYYY-MM-DDThh:mm:ss.sss`` UTC (no zone suffix, as SVOM notices write it)."""
    text = _naive(moment).isoformat(timespec="microseconds")
    return text[: len(text) - (6 - digits)] if digits else text[:19]


def sexagesimal_ra(ra: float) -> str:
    """``hh:mm:ss.ss``."""
    from astropy.coordinates import Angle  # pylint: disable=import-outside-toplevel  # extras only

    return str(Angle(ra, unit="deg").to_string(unit="hourangle", sep=":", precision=2, pad=True))


def sexagesimal_dec(dec: float) -> str:
    """``+dd:mm:ss.s``."""
    from astropy.coordinates import Angle  # pylint: disable=import-outside-toplevel  # extras only

    return str(Angle(dec, unit="deg").to_string(unit="deg", sep=":", precision=1, pad=True, alwayssign=True))


#: Magnitude columns of the catalogue tables, red-ish first (closest to VT_R): what a neighbour is quoted in.
MAGNITUDE_COLUMNS = ("MAG_r", "MAG_RP", "MAG_R1", "MAG_R2", "MAG_i", "MAG_G", "MAG_g")
#: Beyond this a catalogued source is no neighbour worth quoting (a host galaxy is within a few arcsec).
NEIGHBOUR_RADIUS_ARCSEC = 30.0


def positioned_catalogs(view: BurstView) -> list[tuple[str, Any]]:
    """(name, table) of every catalogue that answered with rows that have RA and DEC."""
    return [
        (answer.name, answer.table)
        for answer in view.result.catalogs
        if answer.usable
        and answer.table is not None
        and len(answer.table) > 0
        and {"RA", "DEC"} <= set(answer.table.colnames)
    ]


def magnitude_column(table: Any) -> str | None:
    """The catalogue's magnitude column closest to VT_R (None: the table has none)."""
    return next((name for name in MAGNITUDE_COLUMNS if name in table.colnames), None)


class Neighbour(NamedTuple):
    """The closest catalogued source of a candidate: catalogue, separation (arcsec), band, magnitude (NaN:
    none given)."""

    catalog: str
    distance_arcsec: float
    band: str
    magnitude: float


def nearest_neighbour(view: BurstView, candidate: CandidateView) -> Neighbour | None:
    """The closest catalogued source to a candidate within :data:`NEIGHBOUR_RADIUS_ARCSEC`, over the
    catalogues that answered."""
    found = []
    for name, table in positioned_catalogs(view):
        distance = separation_arcsec(
            np.asarray(table["RA"], float), np.asarray(table["DEC"], float), candidate.ra, candidate.dec
        )
        distance = np.where(np.isfinite(distance), distance, np.inf)
        index = int(np.argmin(distance))
        if distance[index] <= NEIGHBOUR_RADIUS_ARCSEC:
            column = magnitude_column(table)
            magnitude = float(table[column][index]) if column else math.nan
            band = (column or "").removeprefix("MAG_")
            found.append(Neighbour(name, float(distance[index]), band, magnitude))
    return min(found, key=lambda item: item.distance_arcsec) if found else None


def neighbour_text(view: BurstView, candidate: CandidateView) -> str:
    """``SDSS12 1.2" (r = 21.3)``, or why there is none to quote."""
    found = nearest_neighbour(view, candidate)
    if found is None:
        return f'none within {NEIGHBOUR_RADIUS_ARCSEC:.0f}"' if view.verified else "unknown (no catalogue)"
    quoted = (
        f" ({found.band} = {found.magnitude:.2f})" if found.band and math.isfinite(found.magnitude) else ""
    )
    return f'{found.catalog} {found.distance_arcsec:.1f}"{quoted}'
