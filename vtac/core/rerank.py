"""Re-ranking an existing QPO_VT (the FSC's or ours) from its COMBINED table alone.

A BA who has an FSC product gets our probability from its flags and photometry: MAGCAL/MAGERR/EFLAG per
sequence, XFLAG and VFLAG decoded from SEQFLAGn (10000 (n+1) + 1000 XFLAG_Rn + 100 XFLAG_Bn + 10 VFLAG_Rn +
VFLAG_Bn), IN_MXT, and the X-ray circle of the header when present. What the table does not carry is
estimated from it: a sequence's limit is the magnitude its faintest detections reach; catalogue depths and
counterpart details are unknown (their features stay neutral).

The FSC associates detections within R_XMATCH = 1": a bright, saturated afterglow whose early positions
shift by a little more ends up as two VT sources, one per part of its light curve. Sources seen in disjoint
sequences within ``split_radius_arcsec`` are therefore joined first (the joined source keeps the first
part's VT_ID and lists the others).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.table import Table
from numpy.typing import NDArray

from vtac.core.completeness import measure_completeness
from vtac.core.crossmatch import field_of
from vtac.core.flags import XFLAG_UNAVAILABLE, Photometry
from vtac.core.pipeline import NOMINAL_MID_TIMES_S, artefacts_of, position_log_prior
from vtac.core.ranking import (
    FieldProbabilities,
    ReasonContext,
    SourceEvidence,
    feature_matrix,
    field_probabilities,
    light_curves,
    load_model,
    reasons,
)
from vtac.core.records import N_SEQ_PER_BAND, NULL_INT, SEQUENCES, MxtPosition
from vtac.core.science_settings import ScienceConfig
from vtac.core.sky import pairs_within, separation_arcsec

#: Faintest-detection quantile taken as a sequence's limit when the product does not state it.
LIMIT_QUANTILE = 0.98
LIMIT_OFFSET_MAG = 0.2
SPLIT_RADIUS_ARCSEC = 2.0


@dataclass(frozen=True)
class RankedField:
    """Every (joined) source of one product with its probability and reasons, best first."""

    vt_id: NDArray[np.int64]
    joined_ids: list[list[int]]
    ra: NDArray[np.float64]
    dec: NDArray[np.float64]
    probability: NDArray[np.float64]
    p_none: float
    reasons: list[list[str]]
    in_mxt: NDArray[np.int64]


def _column(table: Table, name: str, fill: float) -> NDArray[np.float64]:
    if name not in table.colnames:
        return np.full(len(table), fill)
    values = np.ma.filled(np.ma.asarray(table[name]).astype(float), fill)
    return np.asarray(values, dtype=float)


def _matrix(table: Table, prefix: str, fill: float) -> NDArray[np.float64]:
    return np.column_stack([_column(table, f"{prefix}_{seq}", fill) for seq in SEQUENCES])


def decode_seqflags(table: Table) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """XFLAG (source x 8 sequences) and VFLAG (source x 8, 0 for index 0) from SEQFLAG0..3."""
    n = len(table)
    xflag = np.zeros((n, len(SEQUENCES)), dtype=np.int64)
    vflag = np.zeros((n, len(SEQUENCES)), dtype=np.int64)
    for nth in range(N_SEQ_PER_BAND):
        code = _column(table, f"SEQFLAG{nth}", 0.0).astype(np.int64)
        xflag[:, nth], xflag[:, N_SEQ_PER_BAND + nth] = (code // 1000) % 10, (code // 100) % 10
        vflag[:, nth], vflag[:, N_SEQ_PER_BAND + nth] = (code // 10) % 10, code % 10
    return xflag, vflag


def estimated_limits(mag: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per sequence: the magnitude its faintest detections reach (NaN for a sequence with none)."""
    limits = np.full(mag.shape[1], np.nan)
    for k in range(mag.shape[1]):
        column = mag[:, k][np.isfinite(mag[:, k])]
        if len(column):
            limits[k] = np.quantile(column, LIMIT_QUANTILE) - LIMIT_OFFSET_MAG
    return limits


def join_split_sources(
    ra: NDArray[np.float64], dec: NDArray[np.float64], detected: NDArray[np.bool_], radius_arcsec: float
) -> NDArray[np.int64]:
    """Group index of every row: rows seen in disjoint sequences within the radius share a group."""
    group = np.arange(len(ra))
    if len(ra) < 2:
        return group
    pairs = pairs_within(ra, dec, radius_arcsec)
    seen = detected.copy()
    richer_first = np.argsort(-detected.sum(axis=1), kind="stable")
    rank = np.empty(len(ra), dtype=np.int64)
    rank[richer_first] = np.arange(len(ra))
    for first, second in sorted(pairs.tolist(), key=lambda pair: min(rank[pair[0]], rank[pair[1]])):
        leader, other = (first, second) if rank[first] <= rank[second] else (second, first)
        if group[leader] != leader or group[other] != other or (seen[leader] & seen[other]).any():
            continue
        group[other] = leader
        seen[leader] |= seen[other]
    return group


def _joined(table: Table, group: NDArray[np.int64]) -> tuple[Table, list[list[int]]]:
    """One row per group: the leader's row with the members' per-sequence values filled in."""
    leaders = np.unique(group)
    rows = table[leaders]
    ids = [[int(table["VT_ID"][leader])] for leader in leaders]
    position = {int(leader): k for k, leader in enumerate(leaders)}
    for member in np.flatnonzero(group != np.arange(len(group))):
        k = position[int(group[member])]
        ids[k].append(int(table["VT_ID"][member]))
        for seq in SEQUENCES:
            value = table[f"MAGCAL_{seq}"][member]
            if np.isfinite(value) and value > 0:
                for prefix in ("MAGCAL", "MAGERR", "EFLAG"):
                    name = f"{prefix}_{seq}"
                    if name in table.colnames:
                        rows[name][k] = table[name][member]
        for nth in range(N_SEQ_PER_BAND):
            name = f"SEQFLAG{nth}"
            if name in table.colnames:
                rows[name][k] = _merge_seqflag(int(rows[name][k]), int(table[name][member]), nth)
    return rows, ids


def _merge_seqflag(first: int, second: int, nth: int) -> int:
    """SEQFLAG of a joined source: each digit from the part that has information (the larger code)."""
    if first == 0 or second == 0:
        return max(first, second)
    digits = [max((first // p) % 10, (second // p) % 10) for p in (1000, 100, 10, 1)]
    return 10000 * (nth + 1) + sum(d * p for d, p in zip(digits, (1000, 100, 10, 1), strict=True))


def evidence_from_combined(
    table: Table, mxt: MxtPosition | None, cfg: ScienceConfig
) -> tuple[SourceEvidence, Table, list[list[int]]]:
    """The evidence of every (joined) source of a COMBINED table, the joined table and the VT_IDs joined."""
    mag = _matrix(table, "MAGCAL", np.nan)
    detected = np.isfinite(mag) & (mag > 0)
    group = join_split_sources(
        _column(table, "RA", 0.0), _column(table, "DEC", 0.0), detected, SPLIT_RADIUS_ARCSEC
    )
    rows, ids = _joined(table, group)
    mag = _matrix(rows, "MAGCAL", np.nan)
    mag = np.where(np.isfinite(mag) & (mag > 0), mag, np.nan)
    magerr = np.where(np.isfinite(mag), np.nan_to_num(_matrix(rows, "MAGERR", 0.1), nan=0.1), np.nan)
    eflag = np.where(np.isfinite(mag), np.nan_to_num(_matrix(rows, "EFLAG", 0.0), nan=0.0), NULL_INT).astype(
        np.int64
    )
    xflag, _ = decode_seqflags(rows)
    available = (xflag != XFLAG_UNAVAILABLE).any(axis=0) | np.isfinite(mag).any(axis=0)
    photometry = Photometry(mag=mag, magerr=magerr, available=available, maglim=estimated_limits(mag))
    ra, dec = _column(rows, "RA", 0.0), _column(rows, "DEC", 0.0)
    field = field_of(ra, dec, cfg.pchance_density_radius_arcmin * 60.0) if len(ra) else None
    n = len(rows)
    completeness = measure_completeness(
        mag, np.where(available, photometry.maglim, np.nan), cfg.completeness_width
    )
    artefacts = artefacts_of(photometry, eflag, completeness, cfg)
    evidence = SourceEvidence(
        photometry=photometry,
        eflag=eflag,
        xflag=xflag,
        log_t=np.log10(np.tile(np.array(NOMINAL_MID_TIMES_S), 2)),
        new_margin=np.zeros(n),
        brighter_sigma=np.zeros(n),
        position_log_prior=position_log_prior(ra, dec, mxt, field, cfg),
        in_mxt=_column(rows, "IN_MXT", -1.0).astype(np.int64),
        completeness=completeness,
        artefacts=artefacts,
    )
    return evidence, rows, ids


def rank_combined(table: Table, mxt: MxtPosition | None, cfg: ScienceConfig) -> RankedField:
    """Probabilities and reasons of every source of a COMBINED table, best first."""
    evidence, rows, ids = evidence_from_combined(table, mxt, cfg)
    curves = light_curves(evidence, cfg)
    field: FieldProbabilities = field_probabilities(
        feature_matrix(evidence, curves),
        evidence.log_prior,
        load_model(cfg.model_file),
        cfg.no_afterglow_prior,
    )
    context = ReasonContext.of(
        evidence,
        curves,
        catalogues=(
            np.full(len(rows), "", dtype="U1"),
            np.full(len(rows), np.nan),
            np.full(len(rows), "catalogue", dtype="U9"),
        ),
        mxt_distance=(
            separation_arcsec(_column(rows, "RA", 0.0), _column(rows, "DEC", 0.0), mxt.ra, mxt.dec)
            / mxt.r90_arcsec
            if mxt is not None
            else np.full(len(rows), np.nan)
        ),
    )
    order = np.argsort(-field.probability, kind="stable")
    return RankedField(
        vt_id=np.asarray(rows["VT_ID"], dtype=np.int64)[order],
        joined_ids=[ids[k] for k in order],
        ra=_column(rows, "RA", np.nan)[order],
        dec=_column(rows, "DEC", np.nan)[order],
        probability=field.probability[order],
        p_none=field.none,
        reasons=[reasons(int(k), field.contributions, context) for k in order],
        in_mxt=evidence.in_mxt[order],
    )
