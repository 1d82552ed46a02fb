"""From VT detections, the MXT circle and catalogue answers to the QPO_VT content — no I/O.

Steps: associate detections into VT sources; place them with respect to the X-ray circle; match each usable
catalogue; derive the FSC flags; select, score and rank the afterglow candidates.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.core.association import associate
from vtac.core.config import ScienceConfig
from vtac.core.crossmatch import CatalogMatch, Detections, field_of, match_catalog
from vtac.core.flags import (
    PAIR_NAMES,
    XFLAG_DMAG,
    XFLAG_NEW,
    CatalogEvidence,
    Photometry,
    crossmatch_flags,
    in_mxt,
    join_names,
    sequence_flags,
    variability,
)
from vtac.core.model import (
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
from vtac.core.ranking import SourceEvidence, afterglow_score, colour_and_redshift, is_candidate, rank_order
from vtac.core.schema import CANDIDATE_EXTRA_COLUMNS, CATALOG_COLUMNS, COMBINED_COLUMNS
from vtac.core.sky import separation_arcsec

_J2000 = datetime(2000, 1, 1, 12, 0, 0)
_DAYS_PER_JULIAN_YEAR = 365.25


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

    def photometry(self, observation: VTObservation) -> Photometry:
        """Magnitudes on the grid, with which sequences exist and their limits."""
        sequences = observation.sequences
        return Photometry(
            mag=self.scatter(self.mag, np.nan),
            magerr=self.scatter(self.magerr, np.nan),
            available=np.array([seq in sequences for seq in SEQUENCES]),
            maglim=np.array([sequences[seq].maglim if seq in sequences else np.nan for seq in SEQUENCES]),
        )

    def to_match(self, source_ra: NDArray, source_dec: NDArray) -> Detections:
        """The detections as the cross-match takes them, with their source's best position."""
        return Detections(
            band=self.band,
            ra=self.ra,
            dec=self.dec,
            mag=self.mag,
            magerr=self.magerr,
            source_ra=source_ra[self.source] if len(source_ra) else source_ra,
            source_dec=source_dec[self.source] if len(source_dec) else source_dec,
        )

    def scatter(self, values: NDArray, fill: float | int | bool, dtype: type | str = float) -> NDArray:
        """Source x sequence matrix holding each detection's value, ``fill`` elsewhere."""
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


def build_qpo_vt(
    observation: VTObservation,
    mxt: MxtPosition | None,
    catalogs: list[CatalogAnswer],
    cfg: ScienceConfig,
    burst_id: str | None = None,
) -> QpoVtResult:
    """Compute the QPO_VT content of one burst."""
    grid = SourceGrid(observation, cfg.association_radius_arcsec)
    photometry = grid.photometry(observation)
    eflag = grid.scatter(np.asarray(observation.detections["EFLAG"], dtype=np.int64), NULL_INT, np.int64)
    ra, dec, origin = _reference_positions(grid)
    matches = _match_catalogs(grid.to_match(ra, dec), catalogs=catalogs, observation=observation, cfg=cfg)
    catalog_evidence, dmag, margin = _combine_evidence(grid, matches)
    xflag = crossmatch_flags(photometry, catalog_evidence)
    magvar, vflag = variability(photometry, cfg)

    inside = in_mxt(ra, dec, mxt, cfg)
    combined = _combined_table(
        grid,
        detections=observation.detections,
        position=(ra, dec, origin),
        inside=inside,
        flags=(eflag, xflag, magvar, vflag),
        photometry=photometry,
    )
    evidence = SourceEvidence(photometry, eflag, xflag, vflag, dmag, margin, inside)
    candidates = _candidates_table(combined, evidence=evidence, ra=ra, dec=dec, mxt=mxt, cfg=cfg)
    passing = candidates[candidates["SCORE"] >= cfg.best_score_threshold]
    return QpoVtResult(
        burst_id=burst_id or observation.burst_id or "unknown",
        sequences=dict(observation.sequences),
        mxt=mxt,
        combined=combined,
        catalogs=list(catalogs),
        catalog_tables={match.name: _catalog_table(grid, match, combined["VT_ID"]) for match in matches},
        candidates=candidates,
        best=passing[: cfg.max_best_candidates],
        n_rejected=observation.n_rejected,
        association_radius_arcsec=cfg.association_radius_arcsec,
    )


def _match_catalogs(
    detections: Detections, *, catalogs: list[CatalogAnswer], observation: VTObservation, cfg: ScienceConfig
) -> list[CatalogMatch]:
    usable = [answer for answer in catalogs if answer.usable]
    if not usable or len(detections.ra) == 0:
        return []
    field = field_of(detections.ra, detections.dec, cfg.pchance_density_radius_arcmin * 60.0)
    epoch = julian_epoch(observation)
    return [match_catalog(answer, detections, field, epoch, cfg) for answer in usable]


def _combine_evidence(
    grid: SourceGrid, matches: list[CatalogMatch]
) -> tuple[CatalogEvidence, NDArray, NDArray]:
    """Merge catalogue verdicts: matched anywhere, consistent anywhere, could be new somewhere.

    DMAG of a detection comes from the first catalogue (in the order asked) that matched it; the catalogue
    margin is how much brighter than the deepest covering catalogue's limit the detection is.
    """
    mag = grid.mag
    n_det = len(mag)
    matched, consistent, can_be_new = (np.zeros(n_det, dtype=bool) for _ in range(3))
    dmag, margin = np.full(n_det, np.nan), np.full(n_det, -np.inf)
    for match in matches:
        matched |= match.matched
        consistent |= match.matched & ~match.dmag_significant
        can_be_new |= match.covered & match.deep_enough
        dmag = np.where(np.isnan(dmag) & match.matched, match.dmag, dmag)
        depth = np.where(grid.band == "R", *match.depth)
        margin = np.where(match.covered, np.maximum(margin, depth - mag), margin)
    evidence = CatalogEvidence(
        matched=grid.scatter(matched, False, bool),
        consistent=grid.scatter(consistent, False, bool),
        can_be_new=grid.scatter(can_be_new, False, bool),
    )
    return (
        evidence,
        grid.scatter(dmag, np.nan),
        grid.scatter(np.where(np.isfinite(margin), margin, np.nan), np.nan),
    )


def _reference_positions(grid: SourceGrid) -> tuple[NDArray, NDArray, NDArray]:
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
    position: tuple[NDArray, NDArray, NDArray],
    inside: NDArray,
    flags: tuple[NDArray, NDArray, NDArray, NDArray],
    photometry: Photometry,
) -> Table:
    """COMBINED: the 80 FSC columns; position is (RA, DEC, RADEC_OG), flags (EFLAG, XFLAG, MAGVAR, VFLAG)."""
    ra, dec, origin = position
    eflag, xflag, magvar, vflag = flags
    per_seq = {
        "OBJID": grid.scatter(np.asarray(detections["OBJID"], dtype=np.int64), NULL_INT, np.int64),
        "RA": grid.scatter(grid.ra, np.nan),
        "DEC": grid.scatter(grid.dec, np.nan),
        "MAGCAL": photometry.mag,
        "MAGERR": photometry.magerr,
        "EFLAG": eflag,
        "XFLAG": xflag,
    }
    columns: dict[str, NDArray] = {
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
    columns["NEW_SRC"] = join_names(xflag == XFLAG_NEW, SEQUENCES)
    columns["DMAG_CAT"] = join_names(xflag == XFLAG_DMAG, SEQUENCES)
    columns["MAG_VAR"] = join_names(vflag >= 3, PAIR_NAMES)
    return Table(
        [columns[spec.name] for spec in COMBINED_COLUMNS], names=[spec.name for spec in COMBINED_COLUMNS]
    )


def _candidates_table(
    combined: Table,
    *,
    evidence: SourceEvidence,
    ra: NDArray,
    dec: NDArray,
    mxt: MxtPosition | None,
    cfg: ScienceConfig,
) -> Table:
    selected = np.flatnonzero(is_candidate(evidence))
    score = afterglow_score(evidence, cfg.score_weights)
    mxt_distance = (
        separation_arcsec(ra, dec, mxt.ra, mxt.dec) / mxt.r90_arcsec
        if mxt is not None
        else np.full(len(ra), np.nan)
    )
    brightest = np.min(
        np.where(evidence.photometry.detected, evidence.photometry.mag, np.inf), axis=1, initial=np.inf
    )
    order = selected[rank_order(score[selected], mxt_distance[selected], brightest[selected])]
    b_minus_r, z_hint = colour_and_redshift(evidence.photometry, cfg)
    eflag_max = np.max(
        np.where(evidence.photometry.detected, evidence.eflag, NULL_INT), axis=1, initial=NULL_INT
    )
    extra = {
        "RANK": np.arange(1, len(order) + 1, dtype=np.int64),
        "SCORE": score[order],
        "N_DET": evidence.n_detections[order].astype(np.int64),
        "EFLAG_MAX": eflag_max[order],
        "MXT_DIST": mxt_distance[order],
        "B_MINUS_R": b_minus_r[order],
        "Z_HINT": z_hint[order],
        "VERIFIED": evidence.verified[order],
    }
    table = combined[order]
    for spec in CANDIDATE_EXTRA_COLUMNS:
        table[spec.name] = extra[spec.name]
    return table


def _catalog_table(grid: SourceGrid, match: CatalogMatch, vt_id: NDArray) -> Table:
    """CAT_<name>: each source's counterpart in each sequence, converted to the VT bands."""
    index = np.maximum(match.index, 0)
    hit = match.matched

    def counterpart(values: NDArray) -> NDArray:
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
    columns: dict[str, NDArray] = {"VT_ID": np.asarray(vt_id)}
    for prefix, matrix in per_seq.items():
        columns.update({f"{prefix}_{seq}": matrix[:, k] for k, seq in enumerate(SEQUENCES)})
    return Table(
        [columns[spec.name] for spec in CATALOG_COLUMNS], names=[spec.name for spec in CATALOG_COLUMNS]
    )
