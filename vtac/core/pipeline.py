"""From VT detections, the MXT circle and catalogue answers to the QPO_VT content — no I/O.

Steps: associate detections into VT sources; place them with respect to the X-ray circle; match each usable
catalogue; derive the FSC flags; select, score and rank the afterglow candidates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.core.artefacts import ArtefactEvidence, detector_artefacts
from vtac.core.association import associate
from vtac.core.completeness import Completeness, measure_completeness
from vtac.core.crossmatch import CatalogMatch, Detections, Field, field_of, match_catalog
from vtac.core.flags import (
    VFLAG_BRIGHTENED,
    VFLAG_FADED,
    XFLAG_DMAG,
    XFLAG_NEW,
    XFLAG_UNKNOWN,
    CatalogEvidence,
    Photometry,
    crossmatch_flags,
    fsc_vflag,
    fsc_xflag,
    in_mxt,
    pair_list,
    sequence_flags,
    sequence_list,
    variability,
)
from vtac.core.lightcurve import LightCurves
from vtac.core.moving import mover_tracks, stray_detections
from vtac.core.ranking import (
    FieldProbabilities,
    ReasonContext,
    SourceEvidence,
    colour_and_redshift,
    feature_matrix,
    field_probabilities,
    joined_within,
    light_curves,
    load_model,
    rank_order,
    reasons,
)
from vtac.core.records import (
    N_SEQ_PER_BAND,
    NULL_INT,
    SEQUENCES,
    VARIATION_PAIRS,
    CatalogAnswer,
    MxtPosition,
    QpoVtResult,
    VTObservation,
    sequence_band,
)
from vtac.core.schema import CANDIDATE_EXTRA_COLUMNS, CATALOG_COLUMNS, COMBINED_COLUMNS, REASONS_WIDTH
from vtac.core.science_settings import ScienceConfig
from vtac.core.sky import separation_arcsec
from vtac.errors import InputError

_J2000 = datetime(2000, 1, 1, 12, 0, 0)
_DAYS_PER_JULIAN_YEAR = 365.25
#: Mid-times (s after the trigger) of the nominal four sequences, when the lists carry no usable dates.
NOMINAL_MID_TIMES_S = (330.0, 630.0, 1950.0, 5550.0)
_NOMINAL_EXPOSURE_S = 300.0
#: sigma of a 2-D Gaussian whose 90 % containment radius is 1: 1 - exp(-1 / (2 sigma^2)) = 0.9.
_R90_TO_SIGMA = 1.0 / np.sqrt(2.0 * np.log(10.0))


class SourceGrid:
    """Detections laid out on a source x sequence grid, for scattering per-detection values."""

    def __init__(self, observation: VTObservation, radius_arcsec: float) -> None:
        detections = observation.detections
        self.seq = np.asarray(detections["SEQ"]).astype(str)
        self.ra = np.asarray(detections["RA"], dtype=float)
        self.dec = np.asarray(detections["DEC"], dtype=float)
        self.source = associate(self.seq, self.ra, self.dec, radius_arcsec)
        names, inverse = np.unique(self.seq, return_inverse=True)
        self.column = np.array([SEQUENCES.index(name) for name in names], dtype=np.int64)[inverse]
        self.band = np.array([sequence_band(name) for name in SEQUENCES])[self.column]
        self.n_sources = int(self.source.max()) + 1 if len(self.source) else 0
        self.mag = np.asarray(detections["MAGCAL"], dtype=float)
        self.magerr = np.asarray(detections["MAGERR"], dtype=float)
        self.objid = np.asarray(detections["OBJID"], dtype=np.int64)

    def photometry(self, observation: VTObservation) -> Photometry:
        """Magnitudes on the grid, with which sequences exist and their limits."""
        sequences = observation.sequences
        return Photometry(
            mag=self.scatter(self.mag, np.nan),
            magerr=self.scatter(self.magerr, np.nan),
            available=np.array([seq in sequences for seq in SEQUENCES]),
            maglim=np.array([sequences[seq].maglim if seq in sequences else np.nan for seq in SEQUENCES]),
        )

    def to_match(self, source_ra: NDArray[np.float64], source_dec: NDArray[np.float64]) -> Detections:
        """The detections as the cross-match takes them, with their source's best position."""
        return Detections(
            band=self.band,
            ra=self.ra,
            dec=self.dec,
            mag=self.mag,
            magerr=self.magerr,
            source=self.source,
            source_ra=source_ra,
            source_dec=source_dec,
        )

    def split_off(self, detections: NDArray[np.int64]) -> SourceGrid:
        """The same grid with these detections taken from their sources: one new source per old source and
        sequence index (the simultaneous R and B detections stay together). Sources are numbered again
        densely: one whose every detection was split off is gone."""
        split = copy.copy(self)
        source = self.source.copy()
        keys = self.source[detections] * N_SEQ_PER_BAND + self.column[detections] % N_SEQ_PER_BAND
        _, new_source = np.unique(keys, return_inverse=True)
        source[detections] = self.n_sources + new_source
        _, split.source = np.unique(source, return_inverse=True)
        split.n_sources = int(split.source.max(initial=-1)) + 1
        return split

    def scatter(
        self, values: NDArray[Any], fill: float | int | bool, dtype: type | str = float
    ) -> NDArray[Any]:
        """Source x sequence matrix holding each detection's value, ``fill`` elsewhere (of type ``dtype``)."""
        grid = np.full((self.n_sources, len(SEQUENCES)), fill, dtype=dtype)
        grid[self.source, self.column] = values
        return grid


def julian_epoch(observation: VTObservation) -> float | None:
    """Mean Julian epoch of the sequences whose start date is known (None if none is).

    An unreadable DATE-OBS counts as unknown: proper motions are then not applied, which only matters for
    fast-moving stars, rather than failing the whole product.
    """
    years = []
    for info in observation.sequences.values():
        try:
            start = datetime.fromisoformat((info.date_obs or "").strip().replace("Z", ""))
        except ValueError:
            continue
        years.append(
            2000.0 + (start.replace(tzinfo=None) - _J2000).total_seconds() / 86400.0 / _DAYS_PER_JULIAN_YEAR
        )
    return float(np.mean(years)) if years else None


def sequence_times(
    observation: VTObservation, cfg: ScienceConfig
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mid-time of each sequence index (hours after the trigger) and log10 seconds of each sequence.

    Times count from the trigger time T0 when the observation carries it; otherwise (the documented
    fallback) T0 is taken as ``first_sequence_delay_s`` before the first stack. Without readable DATE-OBS
    for every sequence, or with dates that do not increase with the sequence index, the nominal plan's
    mid-times stand in. A T0 after the start of the first sequence is refused: no time since the trigger
    could be right.
    """
    mids = _measured_mid_times(observation)
    t0 = _trigger_seconds(observation)
    if not mids or not _increasing(mids):
        mid_by_index = np.array(NOMINAL_MID_TIMES_S, dtype=float)
    else:
        origin = t0 if t0 is not None else min(mids.values()) - cfg.first_sequence_delay_s
        _check_trigger_before(origin, observation)
        nominal = dict(enumerate(NOMINAL_MID_TIMES_S))
        mid_by_index = np.array(
            [
                next((mids[f"{band}{nth}"] - origin for band in "RB" if f"{band}{nth}" in mids), nominal[nth])
                for nth in range(N_SEQ_PER_BAND)
            ]
        )
    log_t = np.log10(np.maximum(np.tile(mid_by_index, 2), 1.0))
    return mid_by_index / 3600.0, log_t


def _trigger_seconds(observation: VTObservation) -> float | None:
    """T0 in seconds since J2000 (None when unknown)."""
    t0 = observation.trigger_time
    return None if t0 is None else (t0.replace(tzinfo=None) - _J2000).total_seconds()


def _check_trigger_before(origin: float, observation: VTObservation) -> None:
    """Refuse a trigger time later than the start of a sequence."""
    starts = _sequence_starts(observation)
    if observation.trigger_time is not None and starts and origin > min(starts.values()):
        first = min(starts, key=starts.__getitem__)
        raise InputError(
            f"trigger time T0 = {observation.trigger_time.isoformat()} is after the start of sequence "
            f"{first} (DATE-OBS {observation.sequences[first].date_obs}): T0 must precede the observations"
        )


def _increasing(mids: dict[str, float]) -> bool:
    """Whether later sequence indices start later (dates that say otherwise are not usable as times)."""
    by_index = [
        min(t for seq, t in mids.items() if int(seq[1:]) == nth) for nth in sorted({int(s[1:]) for s in mids})
    ]
    return all(later > earlier for earlier, later in pairwise(by_index))


def _measured_mid_times(observation: VTObservation) -> dict[str, float]:
    """Seconds since J2000 of each sequence's mid-time; empty if one DATE-OBS is unreadable."""
    starts = _sequence_starts(observation)
    if len(starts) < len(observation.sequences):
        return {}
    return {
        seq: starts[seq]
        + (info.exposure_s if info.exposure_s and info.exposure_s > 0 else _NOMINAL_EXPOSURE_S) / 2
        for seq, info in observation.sequences.items()
    }


def first_stack_start(observation: VTObservation) -> datetime | None:
    """The earliest readable DATE-OBS of the sequences (naive UTC), None when none is readable."""
    starts = _sequence_starts(observation)
    return _J2000 + timedelta(seconds=min(starts.values())) if starts else None


def _sequence_starts(observation: VTObservation) -> dict[str, float]:
    """Seconds since J2000 of each sequence's start whose DATE-OBS is readable."""
    starts = {}
    for seq, info in observation.sequences.items():
        try:
            start = datetime.fromisoformat((info.date_obs or "").strip().replace("Z", ""))
        except ValueError:
            continue
        starts[seq] = (start.replace(tzinfo=None) - _J2000).total_seconds()
    return starts


def artefacts_of(
    photometry: Photometry, eflag: NDArray[np.int64], completeness: Completeness, cfg: ScienceConfig
) -> ArtefactEvidence:
    """The detector signatures of every detection (:mod:`vtac.core.artefacts`)."""
    return detector_artefacts(
        photometry.mag,
        photometry.magerr,
        eflag,
        completeness,
        bluest_colour=cfg.bluest_colour,
        faintest_saturated_mag=cfg.faintest_saturated_mag,
    )


def position_log_prior(
    ra: NDArray[np.float64],
    dec: NDArray[np.float64],
    mxt: MxtPosition | None,
    field: Field | None,
    cfg: ScienceConfig,
) -> NDArray[np.float64]:
    """log(rho / lambda): the afterglow's position prior against the surface density of field sources.

    With an X-ray position rho is the 2-D Gaussian whose 90 % radius is R90 (VT error added); without
    one, uniform over the field, so rho / lambda = 1 / N.
    """
    n_sources = len(ra)
    if n_sources == 0:
        return np.zeros(0)
    if mxt is None or field is None:
        return np.full(n_sources, -np.log(n_sources))
    density = n_sources / max(field.area_arcsec2, 1.0)
    sigma2 = (mxt.r90_arcsec * _R90_TO_SIGMA) ** 2 + cfg.vt_astrometric_floor_arcsec**2
    distance = separation_arcsec(ra, dec, mxt.ra, mxt.dec)
    log_rho = -np.square(distance) / (2.0 * sigma2) - np.log(2.0 * np.pi * sigma2)
    log_prior: NDArray[np.float64] = log_rho - np.log(density)
    return log_prior


@dataclass(frozen=True)
class Assessment:
    """Every source of one burst with its evidence, before ranking (what the model is fitted on)."""

    grid: SourceGrid
    evidence: SourceEvidence
    catalog: _CatalogVerdicts
    matches: list[CatalogMatch]
    moving: NDArray[np.bool_]
    combined: Table

    @property
    def eligible(self) -> NDArray[np.bool_]:
        """Sources that can be the afterglow: not a linked moving object, not a detector artefact."""
        return np.asarray(~self.moving & ~self.evidence.artefact, dtype=bool)

    def features(self, cfg: ScienceConfig) -> NDArray[np.float64]:
        """The model's source x feature matrix."""
        return feature_matrix(self.evidence, light_curves(self.evidence, cfg))


def assess(
    observation: VTObservation, mxt: MxtPosition | None, catalogs: list[CatalogAnswer], cfg: ScienceConfig
) -> Assessment:
    """Associate, place, cross-match and flag every source; link movers.

    A mover that crossed a field source merged with it at that sequence index; its detections there are
    split off (:func:`vtac.core.moving.stray_detections`) and the field assessed again.
    """
    grid = SourceGrid(observation, cfg.association_radius_arcsec)
    assessment, strays = _assess_grid(grid, observation, mxt, catalogs, cfg)
    if len(strays):
        split = grid.split_off(strays)
        assessment, _ = _assess_grid(split, observation, mxt, catalogs, cfg, movers=split.source[strays])
    return assessment


def _assess_grid(
    grid: SourceGrid,
    observation: VTObservation,
    mxt: MxtPosition | None,
    catalogs: list[CatalogAnswer],
    cfg: ScienceConfig,
    *,
    movers: NDArray[np.int64] | None = None,
) -> tuple[Assessment, NDArray[np.int64]]:
    """The assessment of one association, and the detections its movers left on other sources.

    ``movers`` are sources already known to be a mover's epochs: those split off a source it crossed. They
    stay movers even where they sit on the crossed star's catalogue counterpart, which keeps them out of
    the track search (it links uncatalogued sources only).
    """
    photometry = grid.photometry(observation)
    eflag = grid.scatter(np.asarray(observation.detections["EFLAG"], dtype=np.int64), NULL_INT, np.int64)
    ra, dec, origin = _reference_positions(grid)
    field = field_of(grid.ra, grid.dec, cfg.pchance_density_radius_arcmin * 60.0) if len(grid.ra) else None
    matches = _match_catalogs(
        grid.to_match(ra, dec), catalogs=catalogs, observation=observation, field=field, cfg=cfg
    )
    catalog = _combine_evidence(grid, matches)
    xstate = crossmatch_flags(photometry, catalog.evidence)
    magvar, vstate = variability(photometry, cfg)
    epoch_hours, log_t = sequence_times(observation, cfg)
    completeness = measure_completeness(
        photometry.mag, np.where(photometry.available, photometry.maglim, np.nan), cfg.completeness_width
    )
    artefacts = artefacts_of(photometry, eflag, completeness, cfg)
    evidence = SourceEvidence(
        photometry=photometry,
        eflag=eflag,
        xflag=fsc_xflag(xstate),
        log_t=log_t,
        new_margin=_max_where(catalog.margin, xstate == XFLAG_NEW, 0.0),
        brighter_sigma=_max_where(
            -catalog.dmag / catalog.sigma, (xstate == XFLAG_DMAG) & (catalog.dmag < 0), 0.0
        ),
        position_log_prior=position_log_prior(ra, dec, mxt, field, cfg),
        in_mxt=in_mxt(ra, dec, mxt, cfg),
        completeness=completeness,
        artefacts=artefacts,
    )
    moving, strays = _movers(
        grid,
        (ra, dec),
        photometry,
        uncatalogued=~np.asarray(catalog.evidence.matched.any(axis=1), dtype=bool),
        epoch_hours=epoch_hours,
        cfg=cfg,
        known=movers,
    )
    combined = _combined_table(
        grid,
        detections=observation.detections,
        position=(ra, dec, origin),
        inside=evidence.in_mxt,
        flags=(eflag, xstate, magvar, vstate),
        photometry=photometry,
        moving=moving,
        dmag=catalog.dmag,
    )
    return Assessment(grid, evidence, catalog, matches, moving, combined), strays


def _movers(  # pylint: disable=too-many-arguments
    grid: SourceGrid,
    position: tuple[NDArray[np.float64], NDArray[np.float64]],
    photometry: Photometry,
    *,
    uncatalogued: NDArray[np.bool_],
    epoch_hours: NDArray[np.float64],
    cfg: ScienceConfig,
    known: NDArray[np.int64] | None,
) -> tuple[NDArray[np.bool_], NDArray[np.int64]]:
    """Sources a mover's track links (and those ``known`` to be a mover's epochs), and the detections
    its movers left on other sources."""
    tracks = mover_tracks(
        position,
        photometry.mag,
        np.where(photometry.available, photometry.maglim, np.nan),
        uncatalogued,
        epoch_hours,
        speed_range_arcsec_h=cfg.moving_speed_arcsec_h,
        min_step_arcsec=2.0 * cfg.association_radius_arcsec,
    )
    moving = np.zeros(grid.n_sources, dtype=bool)
    moving[[member for track in tracks for member in track]] = True
    if known is not None:
        moving[known] = True
    strays = stray_detections(
        tracks, position, photometry.mag, (grid.source, grid.column, grid.ra, grid.dec), epoch_hours
    )
    return moving, strays


def build_qpo_vt(
    observation: VTObservation,
    mxt: MxtPosition | None,
    catalogs: list[CatalogAnswer],
    cfg: ScienceConfig,
    burst_id: str | None = None,
) -> QpoVtResult:
    """Compute the QPO_VT content of one burst."""
    assessment = assess(observation, mxt, catalogs, cfg)
    return qpo_vt_from(assessment, observation, mxt, catalogs, cfg=cfg, burst_id=burst_id)


def qpo_vt_from(
    assessment: Assessment,
    observation: VTObservation,
    mxt: MxtPosition | None,
    catalogs: list[CatalogAnswer],
    *,
    cfg: ScienceConfig,
    burst_id: str | None = None,
) -> QpoVtResult:
    """Rank an assessed burst and gather the QPO_VT content."""
    combined = assessment.combined
    ranked = _rank(
        combined,
        evidence=assessment.evidence,
        catalog=assessment.catalog,
        eligibility=(assessment.moving, assessment.eligible),
        mxt=mxt,
        cfg=cfg,
    )
    return QpoVtResult(
        burst_id=burst_id or observation.burst_id or "unknown",
        sequences=dict(observation.sequences),
        mxt=mxt,
        combined=combined,
        catalogs=list(catalogs),
        catalog_tables={
            match.name: _catalog_table(assessment.grid, match, combined["VT_ID"])
            for match in assessment.matches
        },
        candidates=ranked.candidates,
        best=ranked.best,
        n_rejected=observation.n_rejected,
        association_radius_arcsec=cfg.association_radius_arcsec,
        p_none=ranked.p_none,
        catalog_depths={match.name: match.depth for match in assessment.matches},
    )


def _max_where(values: NDArray[np.float64], mask: NDArray[np.bool_], fill: float) -> NDArray[np.float64]:
    """Per row, the largest value where the mask is set (``fill`` where it never is)."""
    largest: NDArray[np.float64] = np.max(
        np.where(mask, np.nan_to_num(values, nan=fill), fill), axis=1, initial=fill
    )
    return largest


def _match_catalogs(
    detections: Detections,
    *,
    catalogs: list[CatalogAnswer],
    observation: VTObservation,
    field: Field | None,
    cfg: ScienceConfig,
) -> list[CatalogMatch]:
    usable = [answer for answer in catalogs if answer.usable]
    if not usable or field is None:
        return []
    epoch = julian_epoch(observation)
    return [match_catalog(answer, detections, field, epoch, cfg) for answer in usable]


@dataclass(frozen=True)
class _CatalogVerdicts:
    """What the usable catalogues say of every source x sequence, combined."""

    evidence: CatalogEvidence
    dmag: NDArray[np.float64]
    sigma: NDArray[np.float64]
    margin: NDArray[np.float64]
    #: Per source: the catalogue a new source was checked against ("SDSS12 to 22.1"), and the one whose
    #: counterpart it outshines.
    new_against: NDArray[np.str_]
    brighter_against: NDArray[np.str_]


def _combine_evidence(grid: SourceGrid, matches: list[CatalogMatch]) -> _CatalogVerdicts:
    """Merge catalogue verdicts: matched anywhere, consistent anywhere, could be new somewhere.

    DMAG of a detection comes from the first catalogue (in the order asked) that matched it; the catalogue
    margin is how much brighter than the deepest covering catalogue's limit the detection is.
    """
    mag = grid.mag
    n_det = len(mag)
    matched, consistent, can_be_new = (np.zeros(n_det, dtype=bool) for _ in range(3))
    dmag, sigma = np.full(n_det, np.nan), np.full(n_det, np.nan)
    margin = np.full(n_det, -np.inf)
    deepest = np.full(n_det, "", dtype="U24")
    first_match = np.full(n_det, "", dtype="U24")
    for match in matches:
        first = np.isnan(dmag) & match.matched
        matched |= match.matched
        consistent |= match.matched & ~match.dmag_significant
        can_be_new |= match.covered & match.deep_enough
        dmag = np.where(first, match.dmag, dmag)
        sigma = np.where(first, match.dmag_sigma, sigma)
        first_match = np.where(first, match.name, first_match)
        is_r = grid.band == "R"
        depth = np.where(is_r, *match.depth)
        deeper = match.covered & match.deep_enough & (depth - mag > margin)
        # One text per band (formatting it per detection cost more than the rest of the merge).
        label = np.where(is_r, *(f"{match.name} to {band_depth:.1f}" for band_depth in match.depth))
        deepest = np.where(deeper, label, deepest)
        margin = np.where(match.covered, np.maximum(margin, depth - mag), margin)
    return _CatalogVerdicts(
        evidence=CatalogEvidence(
            matched=grid.scatter(matched, False, bool),
            consistent=grid.scatter(consistent, False, bool),
            can_be_new=grid.scatter(can_be_new, False, bool),
        ),
        dmag=grid.scatter(dmag, np.nan),
        sigma=grid.scatter(sigma, np.nan),
        margin=grid.scatter(np.where(np.isfinite(margin), margin, np.nan), np.nan),
        new_against=_per_source_text(grid, deepest),
        brighter_against=_per_source_text(grid, first_match),
    )


def _per_source_text(grid: SourceGrid, text: NDArray[np.str_]) -> NDArray[np.str_]:
    """The first non-empty text among each source's detections."""
    out = np.full(grid.n_sources, "", dtype=text.dtype if len(text) else "U1")
    given = np.flatnonzero(text != "")
    _, first = np.unique(grid.source[given], return_index=True)
    out[grid.source[given[first]]] = text[given[first]]
    return out


def _reference_positions(
    grid: SourceGrid,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.str_]]:
    """RA, DEC and RADEC_OG of each source: its detection with the smallest MAGERR, ties to R, then later."""
    band_rank = grid.column // N_SEQ_PER_BAND
    order = np.lexsort((-grid.column, band_rank, np.nan_to_num(grid.magerr, nan=np.inf), grid.source))
    _, first = np.unique(grid.source[order], return_index=True)
    best = order[first]
    return grid.ra[best], grid.dec[best], np.array(SEQUENCES)[grid.column[best]]


def _combined_table(
    grid: SourceGrid,
    *,
    detections: Table,
    position: tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.str_]],
    inside: NDArray[np.int64],
    flags: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]],
    photometry: Photometry,
    moving: NDArray[np.bool_],
    dmag: NDArray[np.float64],
) -> Table:
    """COMBINED: the 80 FSC columns (FSC codes), then our extra states.

    ``position`` is (RA, DEC, RADEC_OG), ``flags`` (EFLAG, cross-match states, MAGVAR, variability states).
    """
    ra, dec, origin = position
    eflag, xstate, magvar, vstate = flags
    xflag, vflag = fsc_xflag(xstate), fsc_vflag(vstate)
    per_seq = {
        "OBJID": grid.scatter(np.asarray(detections["OBJID"], dtype=np.int64), NULL_INT, np.int64),
        "RA": grid.scatter(grid.ra, np.nan),
        "DEC": grid.scatter(grid.dec, np.nan),
        "MAGCAL": photometry.mag,
        "MAGERR": photometry.magerr,
        "EFLAG": eflag,
        "XFLAG": xflag,
    }
    columns: dict[str, NDArray[Any]] = {
        "VT_ID": np.arange(1, grid.n_sources + 1, dtype=np.int64),
        "RA": ra,
        "DEC": dec,
        "RADEC_OG": origin.astype("U2"),
        "IN_MXT": inside,
    }
    for prefix, matrix in per_seq.items():
        columns.update({f"{prefix}_{seq}": matrix[:, k] for k, seq in enumerate(SEQUENCES)})
    for prefix, matrix in (("MAGVAR", magvar), ("VFLAG", vflag)):
        columns.update({f"{prefix}_{nxt}": matrix[:, k] for k, (_, nxt) in enumerate(VARIATION_PAIRS)})
    columns.update({f"SEQFLAG{n}": flag for n, flag in enumerate(sequence_flags(xflag, vflag).T)})
    columns["NEW_SRC"] = sequence_list(xstate == XFLAG_NEW)
    columns["DMAG_CAT"] = sequence_list(xstate == XFLAG_DMAG)
    columns["MAG_VAR"] = pair_list(vflag == VFLAG_BRIGHTENED)
    columns["XUNKNOWN"] = sequence_list(xstate == XFLAG_UNKNOWN)
    columns["BRIGHTER_CAT"] = sequence_list((xstate == XFLAG_DMAG) & (np.nan_to_num(dmag) < 0))
    columns["FADED"] = pair_list(vstate == VFLAG_FADED)
    columns["BRIGHTENED"] = pair_list(vstate == VFLAG_BRIGHTENED)
    columns["MOVING"] = moving
    return Table(
        [columns[spec.name] for spec in COMBINED_COLUMNS], names=[spec.name for spec in COMBINED_COLUMNS]
    )


@dataclass(frozen=True)
class _Ranking:
    candidates: Table
    best: Table
    p_none: float


def _rank(
    combined: Table,
    *,
    evidence: SourceEvidence,
    catalog: _CatalogVerdicts,
    eligibility: tuple[NDArray[np.bool_], NDArray[np.bool_]],
    mxt: MxtPosition | None,
    cfg: ScienceConfig,
) -> _Ranking:
    """Probabilities of every source, the candidates best first with their reasons, the best few.

    CANDIDATES holds the sources likely enough to be the afterglow and, inside the candidate radius of an
    X-ray circle, every source carrying an FSC flag (NEW_SRC, DMAG_CAT, MAG_VAR) whatever its probability:
    a flaring star or an afterglow on a catalogued source is for the BA to see. Moving objects are labelled
    in COMBINED instead. ``eligibility`` is (moving, eligible).
    """
    moving, eligible = eligibility
    curves = light_curves(evidence, cfg)
    features = feature_matrix(evidence, curves)
    model = load_model(cfg.model_file)
    field = field_probabilities(
        features,
        evidence.log_prior,
        model,
        cfg.no_afterglow_prior,
        eligible=eligible,
        explain_above=cfg.candidate_min_probability,
    )
    ra, dec = np.asarray(combined["RA"], float), np.asarray(combined["DEC"], float)
    mxt_distance = (
        separation_arcsec(ra, dec, mxt.ra, mxt.dec) / mxt.r90_arcsec
        if mxt is not None
        else np.full(len(ra), np.nan)
    )
    near = np.nan_to_num(mxt_distance, nan=0.0) <= cfg.candidate_radius_r90
    flagged = _fsc_flagged(combined) & (mxt is not None)
    likely = field.probability >= cfg.candidate_min_probability
    selected = np.flatnonzero((likely | flagged) & near & ~moving)
    photometry = evidence.photometry
    brightest = np.min(np.where(photometry.detected, photometry.mag, np.inf), axis=1, initial=np.inf)
    order = selected[rank_order(field.probability[selected], mxt_distance[selected], brightest[selected])]
    unexplained = order[~likely[order]]
    field.contributions[unexplained] = model.trees.contributions(features[unexplained])
    table = _candidate_columns(
        combined,
        order,
        evidence=evidence,
        curves_field=(curves, field),
        catalog=catalog,
        mxt_distance=mxt_distance,
        cfg=cfg,
    )
    return _Ranking(table, _best_rows(table, cfg), field.none)


def _best_rows(candidates: Table, cfg: ScienceConfig) -> Table:
    """The best candidates: those above the probability threshold, at most ``max_best_candidates``.

    The candidates come by decreasing probability, so these are their first rows: one slice of a 120-column
    table, not a selection copying it then a slice.
    """
    n_above = int(np.count_nonzero(np.asarray(candidates["PROB"]) >= cfg.best_probability_threshold))
    return candidates[: min(n_above, cfg.max_best_candidates)]


def _fsc_flagged(combined: Table) -> NDArray[np.bool_]:
    """Sources with a NEW_SRC, DMAG_CAT or MAG_VAR entry."""
    flagged = np.zeros(len(combined), dtype=bool)
    for name in ("NEW_SRC", "DMAG_CAT", "MAG_VAR"):
        flagged |= np.char.str_len(np.asarray(combined[name], dtype=str)) > 0
    return flagged


def _candidate_columns(
    combined: Table,
    order: NDArray[np.int64],
    *,
    evidence: SourceEvidence,
    curves_field: tuple[LightCurves, FieldProbabilities],
    catalog: _CatalogVerdicts,
    mxt_distance: NDArray[np.float64],
    cfg: ScienceConfig,
) -> Table:
    curves, field = curves_field
    photometry = evidence.photometry
    detected = photometry.detected
    catalogued = catalog.evidence.matched.any(axis=1)
    b_minus_r, z_hint = colour_and_redshift(
        photometry, cfg, catalogued & (evidence.xflag == XFLAG_DMAG).any(axis=1)
    )
    eflag_max = np.max(np.where(detected, evidence.eflag, NULL_INT), axis=1, initial=NULL_INT)
    brighter = np.max(
        np.where((evidence.xflag == XFLAG_DMAG) & (catalog.dmag < 0), -catalog.dmag, -np.inf),
        axis=1,
        initial=-np.inf,
    )
    context = ReasonContext.of(
        evidence,
        curves,
        catalogues=(
            catalog.new_against,
            np.where(np.isfinite(brighter), brighter, np.nan),
            catalog.brighter_against,
        ),
        mxt_distance=mxt_distance,
    )
    extra = {
        "RANK": np.arange(1, len(order) + 1, dtype=np.int64),
        "PROB": field.probability[order],
        "N_DET": evidence.n_detections[order].astype(np.int64),
        "EFLAG_MAX": eflag_max[order],
        "MXT_DIST": mxt_distance[order],
        "ALPHA": np.where(np.isfinite(curves.alpha_err), curves.alpha, np.nan)[order],
        "ALPHA_ERR": curves.alpha_err[order],
        "B_MINUS_R": b_minus_r[order],
        "Z_HINT": z_hint[order],
        "VERIFIED": evidence.verified[order],
        "REASONS": np.array(
            [joined_within(reasons(row, field.contributions, context), REASONS_WIDTH) for row in order],
            dtype=f"U{REASONS_WIDTH}",
        ).reshape(-1),
    }
    table = combined[order]
    # The arrays are this function's own: no copy, and one call rather than one per column.
    names = [spec.name for spec in CANDIDATE_EXTRA_COLUMNS]
    table.add_columns([extra[name] for name in names], names=names, copy=False)
    return table


def _catalog_table(grid: SourceGrid, match: CatalogMatch, vt_id: NDArray[np.int64]) -> Table:
    """CAT_<name>: each source's counterpart in each sequence, converted to the VT bands."""
    index = np.maximum(match.index, 0)
    hit = match.matched

    def counterpart(values: NDArray[np.float64]) -> NDArray[np.float64]:
        return grid.scatter(np.where(hit, values[index] if len(values) else np.nan, np.nan), np.nan)

    per_seq = {
        "RA": grid.scatter(match.ra, np.nan),
        "DEC": grid.scatter(match.dec, np.nan),
        "MAG_R": counterpart(match.prediction.mag_r),
        "MAG_R_ERR": counterpart(match.prediction.err_r),
        "MAG_B": counterpart(match.prediction.mag_b),
        "MAG_B_ERR": counterpart(match.prediction.err_b),
        "ANGDIST": grid.scatter(match.separation, np.nan),
        "DMAG": grid.scatter(np.where(hit, match.dmag, np.nan), np.nan),
        "PCHANCE": grid.scatter(match.pchance, np.nan),
    }
    columns: dict[str, NDArray[Any]] = {"VT_ID": np.asarray(vt_id)}
    for prefix, matrix in per_seq.items():
        columns.update({f"{prefix}_{seq}": matrix[:, k] for k, seq in enumerate(SEQUENCES)})
    return Table(
        [columns[spec.name] for spec in CATALOG_COLUMNS], names=[spec.name for spec in CATALOG_COLUMNS]
    )
