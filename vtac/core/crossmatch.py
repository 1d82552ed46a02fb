"""Cross-match of VT detections with one reference catalogue.

For every detection (any sequence) we find the nearest catalogue source within a radius that grows with
the VT and catalogue position errors (the VT error grows as the source gets fainter), after moving the
catalogue to the VT epoch with its proper motions. We also decide, per detection, whether the catalogue is
evidence at all: it must have data around that spot (no hole, no edge) and be deep enough to have seen a
source that bright — otherwise an unmatched detection is "unknown", never "new".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vtac.core.config import ScienceConfig
from vtac.core.model import CatalogAnswer
from vtac.core.photometry import VTPrediction, predict_vt
from vtac.core.sky import ARCSEC_PER_RAD, SkyIndex, unit_vectors

#: Typical 1-sigma position error of each catalogue (arcsec), at its own epoch.
CATALOG_POSITION_ERROR_ARCSEC = {
    "GAIADR3": 0.01,
    "PS1DR1": 0.05,
    "SDSS12": 0.1,
    "LSDR10": 0.05,
    "USNOB1": 0.25,
}
#: A catalogue with no source this close to a detection has no data there (hole, edge, bright-star mask).
COVERAGE_RADIUS_ARCSEC = 120.0
MAS_PER_DEG = 3.6e6
_MIN_ROWS_FOR_DEPTH = 100


@dataclass(frozen=True)
class Detections:
    """The detections to match, as flat arrays (one element per detection of any sequence)."""

    band: NDArray[np.str_]
    ra: NDArray[np.float64]
    dec: NDArray[np.float64]
    mag: NDArray[np.float64]
    magerr: NDArray[np.float64]
    #: Best position of the VT source each detection belongs to (see :func:`match_catalog`).
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


def propagate_proper_motion(answer: CatalogAnswer, epoch_year: float | None) -> tuple[NDArray, NDArray]:
    """Catalogue positions moved from their epoch to the VT epoch (unchanged without proper motions)."""
    table = answer.table
    assert table is not None
    ra = np.asarray(table["RA"], dtype=float)
    dec = np.asarray(table["DEC"], dtype=float)
    if epoch_year is None or "PMRA" not in table.colnames or "PMDEC" not in table.colnames:
        return ra, dec
    years = epoch_year - _column(table, "EPOCH", 2000.0)
    pmra = np.nan_to_num(_column(table, "PMRA", 0.0))
    pmdec = np.nan_to_num(_column(table, "PMDEC", 0.0))
    new_dec = dec + pmdec * years / MAS_PER_DEG
    cos_dec = np.maximum(np.cos(np.radians(0.5 * (dec + new_dec))), 1e-6)
    return (ra + pmra * years / MAS_PER_DEG / cos_dec) % 360.0, np.clip(new_dec, -90.0, 90.0)


def _column(table, name: str, default: float) -> NDArray[np.float64]:
    if name not in table.colnames:
        return np.full(len(table), default)
    values: NDArray[np.float64] = np.ma.filled(np.ma.asarray(table[name], dtype=float), np.nan)
    return np.where(np.isfinite(values), values, default)


def match_radius_arcsec(magerr: NDArray[np.float64], catalog: str, cfg: ScienceConfig) -> NDArray[np.float64]:
    """Match radius of each detection: n sigma of the combined VT and catalogue position errors.

    The VT statistical error is FWHM / (2.355 SNR) with SNR = 1.0857 / MAGERR, so faint detections get a
    larger radius; the VT systematic floor and the catalogue error add in quadrature.
    """
    snr = 1.0857 / np.clip(np.nan_to_num(magerr, nan=0.2), 1e-3, None)
    sigma_vt = np.hypot(cfg.vt_astrometric_floor_arcsec, cfg.vt_fwhm_arcsec / (2.355 * snr))
    sigma = np.hypot(sigma_vt, CATALOG_POSITION_ERROR_ARCSEC.get(catalog, 0.2))
    return np.clip(cfg.match_sigma * sigma, cfg.match_radius_min_arcsec, cfg.match_radius_max_arcsec)


def empirical_depth(mags: NDArray[np.float64], bin_width: float = 0.25) -> float:
    """Magnitude where the catalogue's counts in the field turn over; inf with too few sources to tell.

    Counts rise towards faint magnitudes until the survey loses sources: the upper edge of the fullest bin
    (the faintest, on a tie) marks where it stops being complete. This catches catalogues shallower than
    their configured depth here (a bright-star extract, a cut answer); it never deepens the configured one.
    """
    finite = mags[np.isfinite(mags)]
    if len(finite) < _MIN_ROWS_FOR_DEPTH:
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
    """Match every detection with the catalogue and grade the evidence it gives."""
    assert answer.table is not None
    ra_cat, dec_cat = propagate_proper_motion(answer, epoch_year)
    prediction = predict_vt(answer.name, answer.table, cfg.transforms_file)
    sky_index = SkyIndex(ra_cat, dec_cat)
    index, separation = _counterparts(
        sky_index, detections, match_radius_arcsec(detections.magerr, answer.name, cfg)
    )
    hit = index >= 0
    band = np.where(detections.band == "R", 0, 1)
    cat_mag = _take(band, index, prediction.mag_r, prediction.mag_b)
    cat_err = _take(band, index, prediction.err_r, prediction.err_b)
    dmag = detections.mag - cat_mag
    sigma = np.sqrt(detections.magerr**2 + np.nan_to_num(cat_err, nan=0.3) ** 2 + cfg.photometric_floor**2)

    in_field = _in_field(ra_cat, dec_cat, field)
    depth = _depths(answer.name, prediction, in_field, cfg)
    density = _cumulative_density(
        band, cat_mag=cat_mag, prediction=prediction, in_field=in_field, field=field
    )
    safe = np.maximum(index, 0)
    return CatalogMatch(
        name=answer.name,
        index=index,
        separation=separation,
        ra=np.where(hit, ra_cat[safe], np.nan),
        dec=np.where(hit, dec_cat[safe], np.nan),
        prediction=prediction,
        dmag=dmag,
        dmag_significant=hit & (np.abs(dmag) > np.maximum(cfg.dmag_threshold, cfg.dmag_sigma * sigma)),
        pchance=np.where(hit, -np.expm1(-np.pi * separation**2 * density), np.nan),
        covered=hit | _has_neighbour(sky_index, detections, ~hit),
        # A truncated answer may lack the counterpart: it can confirm a match, never prove a source new.
        deep_enough=(detections.mag < np.where(band == 0, depth[0], depth[1]) - cfg.new_source_margin)
        & (not answer.truncated),
        depth=depth,
    )


def _counterparts(
    sky_index: SkyIndex, detections: Detections, radius: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest catalogue source of each detection within its radius (-1 and NaN where none).

    A faint detection's own position is noisy: where it finds nothing, its source's best position (from its
    most precise detection) gets a second chance, so a source is not "new" in one sequence only.
    """
    index, separation = _nearest_within(sky_index, detections.ra, detections.dec, radius)
    retry = index < 0
    index[retry], separation[retry] = _nearest_within(
        sky_index, detections.source_ra[retry], detections.source_dec[retry], radius[retry]
    )
    return index, separation


def _nearest_within(
    sky_index: SkyIndex, ra: NDArray, dec: NDArray, radius: NDArray
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Nearest catalogue source within each position's own radius (-1 and NaN where none)."""
    if len(ra) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    index, separation = sky_index.nearest(ra, dec, float(radius.max()))
    outside = ~(separation <= radius)
    index[outside], separation[outside] = -1, np.nan
    return index, separation


def _take(which: NDArray, index: NDArray[np.int64], first: NDArray, second: NDArray) -> NDArray[np.float64]:
    """first[index] where which == 0, second[index] where 1; NaN where index < 0."""
    safe = np.maximum(index, 0)
    values = np.where(
        which == 0, first[safe] if len(first) else np.nan, second[safe] if len(second) else np.nan
    )
    return np.where(index >= 0, values, np.nan)


def _in_field(ra: NDArray, dec: NDArray, field: Field) -> NDArray[np.bool_]:
    centre = unit_vectors([field.ra], [field.dec])[0]
    cos_radius = np.cos(field.radius_arcsec / ARCSEC_PER_RAD)
    return unit_vectors(ra, dec) @ centre >= cos_radius


def _depths(
    name: str, prediction: VTPrediction, in_field: NDArray[np.bool_], cfg: ScienceConfig
) -> tuple[float, float]:
    """Catalogue depth per VT band: the configured depth, or the observed turnover where shallower."""
    configured = cfg.catalog_depths.get(name, (-np.inf, -np.inf))
    return (
        min(configured[0], empirical_depth(prediction.mag_r[in_field])),
        min(configured[1], empirical_depth(prediction.mag_b[in_field])),
    )


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
    which: NDArray, *, cat_mag: NDArray, prediction: VTPrediction, in_field: NDArray[np.bool_], field: Field
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
