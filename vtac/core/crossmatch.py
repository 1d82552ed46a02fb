"""Cross-match of VT sources with one reference catalogue.

One counterpart decision per VT source, not per detection: the nearest catalogue source to the source's
best position, within a radius that grows with the VT and catalogue position errors of its most precise
detection, after moving the catalogue to the VT epoch with its proper motions. In a crowded field the
nearest star may be unrelated: a counterpart whose chance-coincidence probability exceeds
``pchance_max`` *and* whose magnitude disagrees is rejected (the source has no counterpart), so a constant
star keeps one counterpart in every sequence and an uncatalogued source is not swallowed by a neighbour.

Every detection is then compared with that counterpart (DMAG), with an error that includes a
colour-dependent transform uncertainty (synthetic photometry of red stars misses their molecular bands).
The catalogue is evidence of "new" only where it has data around the source (no hole, no edge) and is
deep enough — its depth *measured in the field*, where the counts turn over, not a table value —
otherwise an unmatched detection is "unknown", never "new".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from vtac.core.constants import (
    CATALOG_POSITION_ERROR_ARCSEC,
    COVERAGE_RADIUS_ARCSEC,
    DEFAULT_CATALOG_EPOCH,
    DEPTH_BIN_MAG,
    FWHM_PER_SIGMA,
    MAG_ERR_AT_UNIT_SNR,
    MAS_PER_DEG,
    MIN_ROWS_FOR_DEPTH,
    MISSING_CATALOG_MAGERR,
    MISSING_VT_MAGERR,
    UNKNOWN_CATALOG_POSITION_ERROR_ARCSEC,
)
from vtac.core.photometry import VTPrediction, predict_vt
from vtac.core.records import CatalogAnswer
from vtac.core.science_settings import ScienceConfig
from vtac.core.sky import ARCSEC_PER_RAD, SkyIndex, unit_vectors

if TYPE_CHECKING:
    from astropy.table import Table


@dataclass(frozen=True)
class Detections:
    """The detections to match, as flat arrays (one element per detection of any sequence)."""

    band: NDArray[np.str_]
    ra: NDArray[np.float64]
    dec: NDArray[np.float64]
    mag: NDArray[np.float64]
    magerr: NDArray[np.float64]
    #: Index of the VT source each detection belongs to, and the best position of every source.
    source: NDArray[np.int64]
    source_ra: NDArray[np.float64]
    source_dec: NDArray[np.float64]


@dataclass(frozen=True)
class Field:
    """The sky region of the VT field: centre and radius containing every detection."""

    ra: float
    dec: float
    radius_arcsec: float

    @property
    def area_arcsec2(self) -> float:
        """Solid angle of the cap."""
        radius_rad = self.radius_arcsec / ARCSEC_PER_RAD
        return float(2.0 * np.pi * (1.0 - np.cos(radius_rad)) * ARCSEC_PER_RAD**2)


@dataclass(frozen=True)
class CatalogMatch:
    """Per-detection outcome of matching one catalogue. Arrays are NaN / -1 / False where unmatched."""

    name: str
    index: NDArray[np.int64]
    separation: NDArray[np.float64]
    ra: NDArray[np.float64]
    dec: NDArray[np.float64]
    prediction: VTPrediction
    dmag: NDArray[np.float64]
    dmag_significant: NDArray[np.bool_]
    pchance: NDArray[np.float64]
    covered: NDArray[np.bool_]
    deep_enough: NDArray[np.bool_]
    #: Depth of the catalogue in VT_R and VT_B (AB) used for the "new" guard.
    depth: tuple[float, float]
    #: Error of each DMAG (VT, catalogue, colour-dependent transform, zero point), for its significance.
    dmag_sigma: NDArray[np.float64]

    @property
    def matched(self) -> NDArray[np.bool_]:
        """Detections with a counterpart."""
        return self.index >= 0


def field_of(ra: NDArray[np.float64], dec: NDArray[np.float64], min_radius_arcsec: float) -> Field:
    """Smallest cap centred on the mean position that holds every detection."""
    xyz = unit_vectors(ra, dec)
    centre = xyz.sum(axis=0)
    centre /= np.linalg.norm(centre)
    cos_max = float(np.clip((xyz @ centre).min(), -1.0, 1.0))
    radius = max(float(np.degrees(np.arccos(cos_max)) * 3600.0), min_radius_arcsec)
    centre_ra = float(np.degrees(np.arctan2(centre[1], centre[0])) % 360.0)
    centre_dec = float(np.degrees(np.arcsin(np.clip(centre[2], -1.0, 1.0))))
    return Field(centre_ra, centre_dec, radius)


def propagate_proper_motion(
    answer: CatalogAnswer, epoch_year: float | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Catalogue positions moved from their epoch to the VT epoch (unchanged without proper motions)."""
    table = answer.table
    assert table is not None
    ra = np.asarray(table["RA"], dtype=float)
    dec = np.asarray(table["DEC"], dtype=float)
    if epoch_year is None or "PMRA" not in table.colnames or "PMDEC" not in table.colnames:
        return ra, dec
    years = epoch_year - _column(table, "EPOCH", DEFAULT_CATALOG_EPOCH)
    pmra = np.nan_to_num(_column(table, "PMRA", 0.0))
    pmdec = np.nan_to_num(_column(table, "PMDEC", 0.0))
    new_dec = dec + pmdec * years / MAS_PER_DEG
    cos_dec = np.maximum(np.cos(np.radians(0.5 * (dec + new_dec))), 1e-6)
    return (ra + pmra * years / MAS_PER_DEG / cos_dec) % 360.0, np.clip(new_dec, -90.0, 90.0)


def _column(table: Table, name: str, default: float) -> NDArray[np.float64]:
    if name not in table.colnames:
        return np.full(len(table), default)
    values: NDArray[np.float64] = np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan)
    return np.where(np.isfinite(values), values, default)


def match_radius_arcsec(magerr: NDArray[np.float64], catalog: str, cfg: ScienceConfig) -> NDArray[np.float64]:
    """Match radius of each detection: n sigma of the combined VT and catalogue position errors.

    The VT statistical error is FWHM / (2.355 SNR) with SNR = 1.0857 / MAGERR, so faint detections get a
    larger radius; the VT systematic floor and the catalogue error add in quadrature.
    """
    snr = MAG_ERR_AT_UNIT_SNR / np.clip(np.nan_to_num(magerr, nan=MISSING_VT_MAGERR), 1e-3, None)
    sigma_vt = np.hypot(cfg.vt_astrometric_floor_arcsec, cfg.vt_fwhm_arcsec / (FWHM_PER_SIGMA * snr))
    sigma = np.hypot(
        sigma_vt, CATALOG_POSITION_ERROR_ARCSEC.get(catalog, UNKNOWN_CATALOG_POSITION_ERROR_ARCSEC)
    )
    return np.clip(cfg.match_sigma * sigma, cfg.match_radius_min_arcsec, cfg.match_radius_max_arcsec)


def empirical_depth(mags: NDArray[np.float64], bin_width: float = DEPTH_BIN_MAG) -> float:
    """Magnitude where the catalogue's counts in the field turn over; inf with too few sources to tell.

    Counts rise towards faint magnitudes until the survey loses sources: the upper edge of the fullest bin
    (the faintest, on a tie) marks where it stops being complete. This catches catalogues shallower than
    their configured depth here (a bright-star extract, a cut answer); it never deepens the configured one.
    """
    finite = mags[np.isfinite(mags)]
    if len(finite) < MIN_ROWS_FOR_DEPTH:
        return np.inf
    edges = np.arange(np.floor(finite.min()), finite.max() + bin_width, bin_width)
    counts, edges = np.histogram(finite, bins=edges)
    fullest = len(counts) - 1 - int(np.argmax(counts[::-1]))
    return float(edges[fullest + 1])


def match_catalog(
    answer: CatalogAnswer,
    detections: Detections,
    field: Field,
    epoch_year: float | None,
    cfg: ScienceConfig,
) -> CatalogMatch:
    """Match every VT source with the catalogue and grade the evidence it gives, per detection."""
    assert answer.table is not None
    ra_cat, dec_cat = propagate_proper_motion(answer, epoch_year)
    prediction = predict_vt(answer.name, answer.table, cfg.transforms_file)
    sky_index = SkyIndex(ra_cat, dec_cat)
    in_field = _in_field(ra_cat, dec_cat, field)
    band = np.where(detections.band == "R", 0, 1)
    source_index, source_sep = _source_counterparts(sky_index, detections, answer.name, cfg)
    index, separation = _per_detection(detections.source, source_index, source_sep)
    cat_mag = _take(band, index, prediction.mag_r, prediction.mag_b)
    dmag = detections.mag - cat_mag
    sigma = _dmag_sigma(detections.magerr, band, index, prediction, cfg)
    significant = (index >= 0) & (np.abs(dmag) > np.maximum(cfg.dmag_threshold, cfg.dmag_sigma * sigma))
    density = _cumulative_density(
        band, cat_mag=cat_mag, prediction=prediction, in_field=in_field, field=field
    )
    pchance = np.where(index >= 0, -np.expm1(-np.pi * separation**2 * density), np.nan)
    index, separation, significant = _reject_chance_counterparts(
        detections.source, (index, separation, significant, pchance), cfg.pchance_max
    )
    hit = index >= 0
    pchance = np.where(hit, pchance, np.nan)
    depth = _depths(answer.name, prediction, in_field, cfg)
    safe = np.maximum(index, 0)
    return CatalogMatch(
        name=answer.name,
        index=index,
        separation=separation,
        ra=np.where(hit, ra_cat[safe], np.nan),
        dec=np.where(hit, dec_cat[safe], np.nan),
        prediction=prediction,
        dmag=np.where(hit, dmag, np.nan),
        dmag_significant=significant,
        pchance=pchance,
        covered=hit | _has_neighbour(sky_index, detections, ~hit),
        # A truncated answer may lack the counterpart: it can confirm a match, never prove a source new.
        deep_enough=(detections.mag < np.where(band == 0, depth[0], depth[1]) - cfg.new_source_margin)
        & (not answer.truncated),
        depth=depth,
        dmag_sigma=sigma,
    )


def _dmag_sigma(
    magerr: NDArray[np.float64],
    band: NDArray[np.int64],
    index: NDArray[np.int64],
    prediction: VTPrediction,
    cfg: ScienceConfig,
) -> NDArray[np.float64]:
    """Error of VT minus predicted magnitude: VT, catalogue, colour-dependent transform, zero point."""
    cat_err = _take(band, index, prediction.err_r, prediction.err_b)
    colour = _at(prediction.mag_b - prediction.mag_r, index)
    return np.sqrt(
        magerr**2
        + np.nan_to_num(cat_err, nan=MISSING_CATALOG_MAGERR) ** 2
        + transform_sigma(colour, cfg) ** 2
        + cfg.photometric_floor**2
    )


def _source_counterparts(
    sky_index: SkyIndex, detections: Detections, catalog: str, cfg: ScienceConfig
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest catalogue source of every VT source, within the radius of its most precise detection."""
    n_sources = len(detections.source_ra)
    best_err = np.full(n_sources, np.inf)
    np.minimum.at(best_err, detections.source, np.nan_to_num(detections.magerr, nan=MISSING_VT_MAGERR))
    radius = match_radius_arcsec(np.where(np.isfinite(best_err), best_err, MISSING_VT_MAGERR), catalog, cfg)
    return _nearest_within(sky_index, detections.source_ra, detections.source_dec, radius)


def _per_detection(
    source: NDArray[np.int64], source_index: NDArray[np.int64], source_sep: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The source's counterpart and separation, repeated for each of its detections."""
    if len(source) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return source_index[source].copy(), source_sep[source].copy()


def _reject_chance_counterparts(
    source: NDArray[np.int64],
    match: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64]],
    pchance_max: float,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """Drop a source's counterpart when it is likely a chance neighbour: probable by chance, and of a
    magnitude that disagrees in every detection (a real counterpart agrees somewhere)."""
    index, separation, significant, pchance = match
    if len(source) == 0:
        return index, separation, significant
    n_sources = int(source.max()) + 1
    agrees = np.zeros(n_sources, dtype=bool)
    np.logical_or.at(agrees, source, (index >= 0) & ~significant)
    chance = np.zeros(n_sources, dtype=bool)
    np.logical_or.at(chance, source, np.nan_to_num(pchance) > pchance_max)
    drop = (chance & ~agrees)[source]
    index = np.where(drop, -1, index)
    return index, np.where(drop, np.nan, separation), significant & ~drop


def _nearest_within(
    sky_index: SkyIndex, ra: NDArray[np.float64], dec: NDArray[np.float64], radius: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest catalogue source within each position's own radius (-1 and NaN where none)."""
    if len(ra) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    index, separation = sky_index.nearest(ra, dec, float(radius.max()))
    outside = ~(separation <= radius)
    index[outside], separation[outside] = -1, np.nan
    return index, separation


def _take(
    which: NDArray[np.int64],
    index: NDArray[np.int64],
    first: NDArray[np.float64],
    second: NDArray[np.float64],
) -> NDArray[np.float64]:
    """first[index] where which == 0, second[index] where 1; NaN where index < 0."""
    safe = np.maximum(index, 0)
    values = np.where(
        which == 0, first[safe] if len(first) else np.nan, second[safe] if len(second) else np.nan
    )
    return np.where(index >= 0, values, np.nan)


def _at(values: NDArray[np.float64], index: NDArray[np.int64]) -> NDArray[np.float64]:
    """values[index], NaN where index < 0."""
    if len(values) == 0:
        return np.full(len(index), np.nan)
    return np.where(index >= 0, values[np.maximum(index, 0)], np.nan)


def _in_field(ra: NDArray[np.float64], dec: NDArray[np.float64], field: Field) -> NDArray[np.bool_]:
    centre = unit_vectors([field.ra], [field.dec])[0]
    cos_radius = np.cos(field.radius_arcsec / ARCSEC_PER_RAD)
    inside: NDArray[np.bool_] = unit_vectors(ra, dec) @ centre >= cos_radius
    return inside


def _depths(
    name: str, prediction: VTPrediction, in_field: NDArray[np.bool_], cfg: ScienceConfig
) -> tuple[float, float]:
    """Catalogue depth per VT band, measured in the field (count turnover); the configured value only when
    the field holds too few catalogue sources to tell."""
    configured = cfg.catalog_depths.get(name, (-np.inf, -np.inf))
    measured = (empirical_depth(prediction.mag_r[in_field]), empirical_depth(prediction.mag_b[in_field]))
    return (
        measured[0] if np.isfinite(measured[0]) else configured[0],
        measured[1] if np.isfinite(measured[1]) else configured[1],
    )


def transform_sigma(colour_b_minus_r: NDArray[np.float64], cfg: ScienceConfig) -> NDArray[np.float64]:
    """Uncertainty of a predicted VT magnitude that grows for red stars (B - R above the onset)."""
    redness = np.clip(np.nan_to_num(colour_b_minus_r, nan=0.0) - cfg.transform_red_onset, 0.0, 2.0)
    return cfg.transform_sigma_floor + cfg.transform_sigma_per_mag * redness


def _has_neighbour(
    sky_index: SkyIndex, detections: Detections, which: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Whether the catalogue has any source within the coverage radius of the selected detections."""
    result = np.zeros(len(which), dtype=bool)
    if which.any():
        index, _ = sky_index.nearest(detections.ra[which], detections.dec[which], COVERAGE_RADIUS_ARCSEC)
        result[which] = index >= 0
    return result


def _cumulative_density(
    which: NDArray[np.int64],
    *,
    cat_mag: NDArray[np.float64],
    prediction: VTPrediction,
    in_field: NDArray[np.bool_],
    field: Field,
) -> NDArray[np.float64]:
    """Surface density (per arcsec²) of catalogue sources at least as bright as each counterpart."""
    area = field.area_arcsec2
    density = np.full(len(cat_mag), np.nan)
    for band_index, mags in enumerate((prediction.mag_r, prediction.mag_b)):
        sorted_mags = np.sort(mags[in_field & np.isfinite(mags)])
        rows = which == band_index
        counts = np.searchsorted(sorted_mags, cat_mag[rows], side="right")
        density[rows] = np.maximum(counts, 1) / area
    return density
