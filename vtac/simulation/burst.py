"""Simulated VT observations of one burst: the QSRCLIST_VT lists and the QPO_MXT circle VTAC would receive.

Generation is pure (sky table in, detection tables out) and driven by one seeded numpy Generator, so a seed
reproduces a burst exactly. The model follows what is public about the VT and its VHF source lists:

* each sequence is a stack of N x 50 s frames starting ``delay`` after T0; its limiting magnitude (5 sigma,
  50 % completeness) is ``depth_300s + 1.25 log10(N / 6)`` (22.5 in 300 s, background-limited stacking);
* sky-limited photometry: flux noise is constant, SNR = 5 at MAGLIM, MAGERR = 1.0857 / SNR (plus a
  zero-point floor); detection follows a logistic completeness curve in the *measured* magnitude, so
  near-limit detections are biased bright, as in real lists;
* astrometric error per axis sigma = hypot(0.1", FWHM / (2.355 SNR)) with FWHM = 2";
* sources closer than 1" (half the FWHM) are one detection with their summed flux (an afterglow on its host);
* EFLAG > 0 on a few detections, more often near bright stars and frame edges; saturation (drop or flag 4)
  brighter than 12 (the afterglow and injected sources are flagged 4, never dropped); a few spurious
  single-sequence artefacts, all flagged;
* galaxies fainter than the catalogue's depth are added (counts extrapolated as a power law), so that VT
  detections near the limit without a catalogue counterpart occur, as on the real sky;
* catalogue proper motions are applied from EPOCH to T0; pixel X/Y come from a tangent projection at
  0.76"/px, east left, north up, reference pixel at the field centre.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from astropy.table import Table, vstack
from numpy.typing import NDArray
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from vtac.core.constants import (
    DEFAULT_CATALOG_EPOCH,
    FWHM_PER_SIGMA,
    MAG_ERR_AT_UNIT_SNR,
    VT_FRAME_S,
    VT_PIXEL_SCALE_ARCSEC,
)
from vtac.core.flags import EFlag
from vtac.core.records import BANDS, N_SEQ_PER_BAND, MxtPosition, SequenceInfo
from vtac.errors import ConfigurationError, InputError

FRAME_S = VT_FRAME_S
PIXEL_SCALE_ARCSEC = VT_PIXEL_SCALE_ARCSEC
#: The depth of a sequence is given for 6 frames (300 s); others scale from it.
REFERENCE_FRAMES = 6
#: sigma of a 2-D Gaussian whose 90 % containment radius is 1: P(r < R90) = 1 - exp(-R90^2 / 2 sigma^2) = 0.9.
R90_TO_SIGMA = 1.0 / math.sqrt(2.0 * math.log(10.0))
SRCLIST_COLUMNS = ("OBJID", "X", "Y", "RA", "DEC", "MAGCAL", "MAGERR", "EFLAG", "ELLIPTY")
AFTERGLOW = "afterglow"
#: EFLAG values drawn for flagged detections (:class:`vtac.core.flags.EFlag` bits): at random, near bright
#: stars, on artefacts; weights of the random draw.
_N, _B, _T, _O = (int(flag) for flag in (EFlag.NEIGHBOURS, EFlag.BLENDED, EFlag.TRUNCATED, EFlag.OTHER))
RANDOM_FLAGS = (_N, _B, _N | _B, _O)
RANDOM_FLAG_WEIGHTS = (0.35, 0.25, 0.25, 0.15)
NEIGHBOUR_FLAGS = (_N, _N | _B)
ARTEFACT_FLAGS = (_B, _N | _B, _O, _O | _B, _O | _T)
SATURATED, TRUNCATED = int(EFlag.SATURATED), _T
#: Cosmic rays: a saturated pixel half of the time; hot pixels: unflagged or with bad-pixel neighbours.
COSMIC_RAY_FLAGS = (SATURATED, SATURATED | _B, SATURATED | _O, 0, _N)
COSMIC_RAY_FLAG_WEIGHTS = (0.3, 0.1, 0.1, 0.35, 0.15)
HOT_PIXEL_FLAGS = (0, 0, _N, SATURATED)
#: Separates a moving source's label from its sequence index in the per-sequence pieces.
MOVING_MARK = "@"
COUNTS_BIN = 0.25
MIN_SOURCES_FOR_COUNTS = 200
#: Added galaxies take B - R from catalogue galaxies in COLOUR_BINS bins of COLOUR_BIN mag below the turnover.
COLOUR_BIN, COLOUR_BINS, MIN_COLOUR_POOL = 0.5, 3, 20


@dataclass(frozen=True)
class SequencePlan:
    """One sequence (in both bands at once: the two VT channels expose simultaneously)."""

    delay_s: float
    n_frames: int = REFERENCE_FRAMES

    @property
    def exposure_s(self) -> float:
        """Total exposure of the stack."""
        return self.n_frames * FRAME_S

    @property
    def mid_s(self) -> float:
        """Mid-time after T0, the time a sequence's magnitude is quoted at (GCN usage)."""
        return self.delay_s + self.exposure_s / 2.0


DEFAULT_PLAN = (SequencePlan(180.0), SequencePlan(480.0), SequencePlan(1800.0), SequencePlan(5400.0))


@dataclass(frozen=True)
class AfterglowSpec:
    """A power-law afterglow: VT_R = ``mag_r`` at ``t_ref_s`` after T0, fading as t^-alpha, B = R + colour."""

    ra: float
    dec: float
    mag_r: float
    t_ref_s: float = 600.0
    b_minus_r: float = 0.5
    alpha: float = 1.0

    def mag_at(self, band: str, t_s: float) -> float:
        """True magnitude in ``band`` at ``t_s`` after T0 (flux ~ t^-alpha)."""
        mag_r = self.mag_r + 2.5 * self.alpha * math.log10(t_s / self.t_ref_s)
        return mag_r + (self.b_minus_r if band == "B" else 0.0)


@dataclass(frozen=True)
class InjectedSource:
    """An extra source for a test scenario, detected in every sequence where its magnitude is finite.

    ``mag_r``/``mag_b`` hold one true magnitude per sequence index (NaN: absent), ``eflag_r``/``eflag_b``
    the EFLAG of each detection. Catalogue sources within ``replaces_radius_arcsec`` are removed first,
    so a flaring catalogued star can replace its quiescent self.
    """

    label: str
    ra: float
    dec: float
    mag_r: tuple[float, ...]
    mag_b: tuple[float, ...]
    eflag_r: tuple[int, ...] = (0,) * N_SEQ_PER_BAND
    eflag_b: tuple[int, ...] = (0,) * N_SEQ_PER_BAND
    replaces_radius_arcsec: float = 0.0
    extended: bool = False
    #: Apparent motion (east, north) in arcsec per hour: a moving object, at (ra, dec) at T0 and seen at its
    #: moved position at each sequence's mid-time (one detection per sequence index, both bands).
    motion_arcsec_per_h: tuple[float, float] = (0.0, 0.0)
    #: Detected wherever its magnitude is finite; False: only as the detector's completeness allows.
    forced: bool = True

    def __post_init__(self) -> None:
        if MOVING_MARK in self.label:
            raise ConfigurationError(f"injected source {self.label}: '{MOVING_MARK}' is reserved")
        for name in ("mag_r", "mag_b", "eflag_r", "eflag_b"):
            if len(getattr(self, name)) != N_SEQ_PER_BAND:
                raise ConfigurationError(
                    f"injected source {self.label}: {name} needs {N_SEQ_PER_BAND} values"
                )

    def mags(self, band: str) -> tuple[float, ...]:
        """True magnitudes in ``band`` ('R' or 'B'), one per sequence index."""
        return self.mag_r if band == "R" else self.mag_b

    def eflags(self, band: str) -> tuple[int, ...]:
        """EFLAG of each detection in ``band``."""
        return self.eflag_r if band == "R" else self.eflag_b


@dataclass(frozen=True)
class DetectorModel:  # pylint: disable=too-many-instance-attributes  # a record of parameters
    """Instrument and source-extraction realism; every default is argued in the module docstring."""

    depth_300s: float = 22.5
    completeness_width_mag: float = 0.15
    photometric_floor_mag: float = 0.01
    fwhm_arcsec: float = 2.0
    astrometric_floor_arcsec: float = 0.1
    blend_radius_arcsec: float = 1.0
    saturation_mag: float = 12.0
    saturated_drop_fraction: float = 0.5
    flag_fraction: float = 0.02
    bright_star_mag: float = 15.0
    bright_star_radius_arcsec: float = 15.0
    near_bright_flag_fraction: float = 0.5
    edge_px: float = 20.0
    edge_flag_fraction: float = 0.7
    artefacts_per_sequence: float = 3.0
    #: 50 % completeness this far from the nominal MAGLIM the lists report (the detector's own curve).
    completeness_offset_mag: float = 0.0
    #: True flux noise over what the reported MAGERR assumes (1.5: errors underestimated by a third).
    noise_scale: float = 1.0
    #: Cosmic-ray residuals per stack and camera: one channel, one sequence, often with the saturation bit.
    cosmic_rays_per_sequence: float = 1.0
    #: Hot pixels per camera: one channel, at the same place in every stack of that channel.
    hot_pixels_per_camera: float = 0.3
    #: Share of detections a list loses whatever their brightness (the field's edge as it dithers, a bad
    #: column, a segmentation failure): the FSC's simulations lose about 1 %. 0 by default, and then not
    #: drawn, so that the default simulations stay what the model was fitted on.
    dropout_fraction: float = 0.0
    faint_galaxies: bool = True
    #: The added galaxies' counts law times this: how many sources sit at and below the limit, which are
    #: what flickers into near-limit detections (real skies differ from field to field and from the law).
    faint_counts_factor: float = 1.0
    #: Fallback VT_R counts law dN/dm = 10^(log_counts_21 + slope (m - 21)) per deg^2 per mag and the
    #: catalogue turnover, for skies too small to fit (fitted on the packaged SDSS field).
    galaxy_log_counts_21: float = 3.84
    galaxy_counts_slope: float = 0.34
    galaxy_counts_turnover: float = 21.75

    def maglim(self, n_frames: int) -> float:
        """5-sigma limit of a stack of ``n_frames`` (background-limited: depth grows as 1.25 log10 N)."""
        return self.depth_300s + 1.25 * math.log10(n_frames / REFERENCE_FRAMES)


@dataclass(frozen=True)
class BurstSpec:
    """Everything that defines one simulated burst (the sky aside)."""

    ra: float
    dec: float
    burst_id: str = "sb26050905"
    t0: str = "2026-05-09T21:51:09"
    half_width_arcmin: float = 13.0
    plan: tuple[SequencePlan, ...] = DEFAULT_PLAN
    afterglow: AfterglowSpec | None = None
    mxt_r90_arcsec: float | None = None
    injected: tuple[InjectedSource, ...] = ()
    detector: DetectorModel = field(default_factory=DetectorModel)

    def __post_init__(self) -> None:
        if not 1 <= len(self.plan) <= N_SEQ_PER_BAND:
            raise ConfigurationError(f"the sequence plan needs 1 to {N_SEQ_PER_BAND} sequences")
        if any(step.n_frames < 1 or step.delay_s < 0 for step in self.plan):
            raise ConfigurationError("every sequence needs at least one frame and a delay >= 0")
        if self.mxt_r90_arcsec is not None and not self.mxt_r90_arcsec > 0:
            raise ConfigurationError(f"MXT r90 must be > 0 arcsec, not {self.mxt_r90_arcsec}")
        if not 0 < self.half_width_arcmin <= 60:
            raise ConfigurationError(
                f"field half-width must be in (0, 60] arcmin, not {self.half_width_arcmin}"
            )
        if self.afterglow is not None and self.afterglow.t_ref_s <= 0:
            raise ConfigurationError("the afterglow reference time must be > 0 s after T0")
        labels = [extra.label for extra in self.injected]
        if len(set(labels)) != len(labels) or AFTERGLOW in labels:
            raise ConfigurationError(
                f"injected sources need distinct labels other than '{AFTERGLOW}': {labels}"
            )
        _parse_time(self.t0)

    @property
    def sequence_names(self) -> list[str]:
        """Sequences the plan produces, in FSC order (R0.., then B0..)."""
        return [f"{band}{nth}" for band in BANDS for nth in range(len(self.plan))]


@dataclass
class BurstTruth:
    """What the simulation put in: the afterglow, its true magnitude per sequence, and who got which OBJID.

    ``objids[label][seq]`` is the OBJID of the detection holding ``label`` ('afterglow' or an injected
    source's label) in that sequence; a sequence is absent where it was not detected.
    """

    afterglow: AfterglowSpec | None
    mags: dict[str, float]
    mid_times_s: dict[str, float]
    objids: dict[str, dict[str, int]]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (written next to the products)."""
        glow = self.afterglow
        return {
            "afterglow": None
            if glow is None
            else {"ra": glow.ra, "dec": glow.dec, "alpha": glow.alpha, "b_minus_r": glow.b_minus_r},
            "mags": self.mags,
            "mid_times_s": self.mid_times_s,
            "objids": self.objids,
        }


@dataclass
class SimulatedBurst:
    """Per-sequence detection tables (the QSRCLIST_VT columns), their metadata, the MXT circle, the truth."""

    burst_id: str
    tables: dict[str, Table]
    sequences: dict[str, SequenceInfo]
    mxt: MxtPosition | None
    truth: BurstTruth
    #: T0 of the simulated burst (naive UTC).
    trigger_time: datetime | None = None

    def band_tables(self, band: str) -> dict[str, Table]:
        """The detection tables of one band ('R' or 'B'), by sequence."""
        return {seq: table for seq, table in self.tables.items() if seq[0] == band}

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """One QSRCLIST_VT file per band, the QPO_MXT file (if any) and the truth as JSON; their paths."""
        # Imported here: generation stays free of I/O modules. pylint: disable=import-outside-toplevel
        from vtac.adapters.mxt import MxtRow, write_qpo_mxt
        from vtac.adapters.srclist import write_srclist

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths: dict[str, Path] = {}
        for band in BANDS:
            path = out / f"QSRCLIST_VT_{band}_{self.burst_id}.fits"
            paths[f"srclist_{band}"] = write_srclist(
                path, band, self.band_tables(band), self.sequences, burst_id=self.burst_id
            )
        if self.mxt is not None:
            row = MxtRow(self.mxt.ra, self.mxt.dec, self.mxt.r90_arcsec)
            paths["mxt"] = write_qpo_mxt(out / f"QPO_MXT_{self.burst_id}.fits", [[row]], self.burst_id)
        paths["truth"] = out / f"TRUTH_{self.burst_id}.json"
        paths["truth"].write_text(json.dumps(self.truth.as_dict(), indent=1), encoding="utf-8")
        return paths


# ---------------------------------------------------------------------------------------------------------
# Geometry.


@dataclass(frozen=True)
class FieldGeometry:
    """Gnomonic projection about the field centre, in arcsec; square field, east left, north up."""

    ra0: float
    dec0: float
    half_width_arcsec: float
    pixel_scale: float = PIXEL_SCALE_ARCSEC

    def project(self, ra: NDArray, dec: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(xi, eta) in arcsec; points on the far hemisphere get NaN."""
        ra_r, dec_r = np.radians(ra), np.radians(dec)
        dec0 = math.radians(self.dec0)
        d_ra = ra_r - math.radians(self.ra0)
        cos_c = math.sin(dec0) * np.sin(dec_r) + math.cos(dec0) * np.cos(dec_r) * np.cos(d_ra)
        cos_c = np.where(cos_c > 0, cos_c, np.nan)
        xi = np.cos(dec_r) * np.sin(d_ra) / cos_c
        eta = (math.cos(dec0) * np.sin(dec_r) - math.sin(dec0) * np.cos(dec_r) * np.cos(d_ra)) / cos_c
        scale = 180.0 / math.pi * 3600.0
        return xi * scale, eta * scale

    def deproject(self, xi: NDArray, eta: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(ra, dec) in degrees of tangent-plane offsets in arcsec."""
        scale = math.pi / 180.0 / 3600.0
        x, y = np.asarray(xi) * scale, np.asarray(eta) * scale
        dec0 = math.radians(self.dec0)
        denom = math.cos(dec0) - y * math.sin(dec0)
        ra = (self.ra0 + np.degrees(np.arctan2(x, denom))) % 360.0
        dec = np.degrees(np.arctan2(math.sin(dec0) + y * math.cos(dec0), np.hypot(x, denom)))
        return ra, dec

    def inside(self, xi: NDArray, eta: NDArray) -> NDArray[np.bool_]:
        """True inside the square field (NaN offsets are outside)."""
        with np.errstate(invalid="ignore"):
            return (np.abs(xi) <= self.half_width_arcsec) & (np.abs(eta) <= self.half_width_arcsec)

    def near_edge(self, xi: NDArray, eta: NDArray, edge_px: float) -> NDArray[np.bool_]:
        """True within ``edge_px`` pixels of the field's border."""
        margin = self.half_width_arcsec - edge_px * self.pixel_scale
        return (np.abs(xi) > margin) | (np.abs(eta) > margin)

    @property
    def reference_pixel(self) -> float:
        """1-based FITS pixel of the centre of a frame just covering the field."""
        return (math.ceil(2.0 * self.half_width_arcsec / self.pixel_scale) + 1) / 2.0

    def pixels(self, xi: NDArray, eta: NDArray) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """1-based FITS pixel X, Y (X grows westward, Y northward)."""
        return self.reference_pixel - xi / self.pixel_scale, self.reference_pixel + eta / self.pixel_scale

    @property
    def area_deg2(self) -> float:
        """Solid angle of the field (small-field approximation)."""
        return (2.0 * self.half_width_arcsec / 3600.0) ** 2


# ---------------------------------------------------------------------------------------------------------
# The true sources of the field.


@dataclass
class _Sources:
    """True sources: tangent-plane positions, magnitudes per band and sequence index (NaN: no flux)."""

    xi: NDArray[np.float64]
    eta: NDArray[np.float64]
    mags: dict[str, NDArray[np.float64]]
    eflags: dict[str, NDArray[np.int64]]
    extended: NDArray[np.bool_]
    forced: NDArray[np.bool_]
    labels: dict[str, int] = field(default_factory=dict)

    @classmethod
    def constant(cls, xi, eta, mag_r, mag_b, extended) -> _Sources:
        """Sources whose magnitude does not change between sequences."""
        n = len(xi)
        tile = (1, N_SEQ_PER_BAND)
        return cls(
            np.asarray(xi, float),
            np.asarray(eta, float),
            {
                "R": np.tile(np.asarray(mag_r, float)[:, None], tile),
                "B": np.tile(np.asarray(mag_b, float)[:, None], tile),
            },
            {band: np.zeros((n, N_SEQ_PER_BAND), np.int64) for band in BANDS},
            np.asarray(extended, bool),
            np.zeros(n, bool),
        )

    def __len__(self) -> int:
        return len(self.xi)

    def extend(self, other: _Sources) -> None:
        """Append ``other``'s sources (their labels follow them)."""
        offset = len(self)
        self.xi = np.concatenate([self.xi, other.xi])
        self.eta = np.concatenate([self.eta, other.eta])
        for band in BANDS:
            self.mags[band] = np.concatenate([self.mags[band], other.mags[band]])
            self.eflags[band] = np.concatenate([self.eflags[band], other.eflags[band]])
        self.extended = np.concatenate([self.extended, other.extended])
        self.forced = np.concatenate([self.forced, other.forced])
        self.labels.update({label: index + offset for label, index in other.labels.items()})

    def keep(self, mask: NDArray[np.bool_]) -> _Sources:
        """The sources where ``mask`` is true (labels dropped: only unlabelled catalogue sources are cut)."""
        return _Sources(
            self.xi[mask],
            self.eta[mask],
            {band: values[mask] for band, values in self.mags.items()},
            {band: values[mask] for band, values in self.eflags.items()},
            self.extended[mask],
            self.forced[mask],
        )


def _sky_column(sky: Table, name: str, default: float | None = None) -> NDArray[np.float64]:
    if name not in sky.colnames:
        if default is None:
            raise InputError("the sky table lacks a required column", column=name)
        return np.full(len(sky), default)
    values: NDArray[np.float64] = np.ma.filled(np.ma.asarray(sky[name], dtype=float), np.nan)
    return values if default is None else np.where(np.isfinite(values), values, default)


def _sky_sources(sky: Table, geometry: FieldGeometry, epoch_year: float) -> _Sources:
    """Catalogue sources inside the field, moved by their proper motion from EPOCH to the burst date."""
    ra, dec = _sky_column(sky, "RA"), _sky_column(sky, "DEC")
    mag_r, mag_b = _sky_column(sky, "MAG_R"), _sky_column(sky, "MAG_B")
    if "PMRA" in sky.colnames or "PMDEC" in sky.colnames:
        years = epoch_year - _sky_column(sky, "EPOCH", DEFAULT_CATALOG_EPOCH)
        east, north = _sky_column(sky, "PMRA", 0.0) * years, _sky_column(sky, "PMDEC", 0.0) * years
        # Exact great-circle steps: a flat RA step divided by cos(dec) fails at the pole.
        ra, dec = offset_positions(
            ra, dec, np.hypot(east, north) / 1000.0, np.degrees(np.arctan2(east, north))
        )
    extended = np.asarray(sky["EXTENDED"], bool) if "EXTENDED" in sky.colnames else np.zeros(len(sky), bool)
    xi, eta = geometry.project(ra, dec)
    keep = geometry.inside(xi, eta) & (np.isfinite(mag_r) | np.isfinite(mag_b))
    return _Sources.constant(xi[keep], eta[keep], mag_r[keep], mag_b[keep], extended[keep])


def _faint_galaxies(
    sky: _Sources, geometry: FieldGeometry, mag_max: float, rng: np.random.Generator, detector: DetectorModel
) -> _Sources:
    """Galaxies the catalogue misses: its counts extrapolated as a power law past its turnover (times the
    detector's ``faint_counts_factor``), minus what it has, bin by bin (so a deep catalogue gets few or
    none)."""
    mag_r = sky.mags["R"][:, 0]
    mag_r = mag_r[np.isfinite(mag_r)]
    log_counts, slope, turnover = _counts_law(mag_r, geometry.area_deg2, detector)
    edges = np.arange(turnover - 0.5, mag_max + COUNTS_BIN, COUNTS_BIN)
    centres = 0.5 * (edges[:-1] + edges[1:])
    expected = 10.0 ** (log_counts + slope * (centres - 21.0)) * COUNTS_BIN * geometry.area_deg2
    expected *= detector.faint_counts_factor
    missing = rng.poisson(np.clip(expected - np.histogram(mag_r, bins=edges)[0], 0.0, None))
    mags = np.repeat(edges[:-1], missing) + rng.uniform(0.0, COUNTS_BIN, int(missing.sum()))
    half = geometry.half_width_arcsec
    xi, eta = rng.uniform(-half, half, len(mags)), rng.uniform(-half, half, len(mags))
    colours = _galaxy_colours(sky, mags, turnover, rng)
    return _Sources.constant(xi, eta, mags, mags + colours, np.ones(len(mags), bool))


def _counts_law(
    mag_r: NDArray[np.float64], area_deg2: float, detector: DetectorModel
) -> tuple[float, float, float]:
    """(log10 dN/dm at VT_R = 21 per deg^2 per mag, slope, turnover magnitude) of the catalogue in the field.

    Fitted on the 2 mag below the turnover, where the catalogue is complete; the detector's default law
    (fitted once on the packaged SDSS field) serves when the field holds too few sources to fit.
    """
    default = (detector.galaxy_log_counts_21, detector.galaxy_counts_slope, detector.galaxy_counts_turnover)
    if len(mag_r) < MIN_SOURCES_FOR_COUNTS:
        return default
    edges = np.arange(np.floor(mag_r.min()), np.ceil(mag_r.max()) + COUNTS_BIN, COUNTS_BIN)
    counts = np.histogram(mag_r, bins=edges)[0]
    turnover = float(edges[np.argmax(counts) + 1])
    centres = 0.5 * (edges[:-1] + edges[1:])
    fit = (centres > turnover - 2.5) & (centres < turnover - 0.5) & (counts > 0)
    if fit.sum() < 4 or counts[fit].sum() < MIN_SOURCES_FOR_COUNTS:
        return default
    slope, intercept = np.polyfit(centres[fit], np.log10(counts[fit] / COUNTS_BIN / area_deg2), 1)
    slope = float(np.clip(slope, 0.2, 0.6))
    return float(intercept + slope * 21.0), slope, turnover


def _galaxy_colours(
    sky: _Sources, mags: NDArray[np.float64], turnover: float, rng: np.random.Generator
) -> NDArray[np.float64]:
    """B - R colours of added galaxies of VT_R ``mags``: resampled from the catalogue's *galaxies* of the
    nearest magnitude where the catalogue is complete (``COLOUR_BINS`` bins below its turnover).

    Colours of sources near the catalogue limit are not used: there the catalogue keeps what its detection
    band favours and its noise widens the colours, which made a spurious population blue enough (B - R
    ~ -1) to be seen in VT_B only.
    """
    mag_r, mag_b = sky.mags["R"][:, 0], sky.mags["B"][:, 0]
    usable = sky.extended & np.isfinite(mag_r) & np.isfinite(mag_b)
    edges = turnover - 0.5 - COLOUR_BIN * np.arange(COLOUR_BINS + 1)[::-1]
    which = np.clip(np.digitize(mags, edges) - 1, 0, COLOUR_BINS - 1)
    colours = np.empty(len(mags))
    for k in range(COLOUR_BINS):
        drawn = which == k
        pool = (mag_b - mag_r)[usable & (mag_r >= edges[k]) & (mag_r < edges[k + 1])]
        if len(pool) < MIN_COLOUR_POOL:
            colours[drawn] = rng.normal(0.7, 0.3, int(drawn.sum()))
        else:
            colours[drawn] = rng.choice(pool, int(drawn.sum()))
    return np.clip(colours, -0.5, 3.0)


def _injected_sources(spec: BurstSpec, geometry: FieldGeometry) -> _Sources:
    """The afterglow and the injected sources, labelled so their detections can be found again."""
    sources = _Sources.constant([], [], [], [], [])
    for extra in spec.injected:
        for label, ra, dec, keep in _pieces(extra, spec.plan):
            xi, eta = _projected(geometry, ra, dec, extra.label)
            one = _Sources(
                xi,
                eta,
                {band: np.where(keep, np.array([extra.mags(band)], float), np.nan) for band in BANDS},
                {band: np.array([extra.eflags(band)], np.int64) for band in BANDS},
                np.array([extra.extended]),
                np.array([extra.forced]),
                {label: 0},
            )
            sources.extend(one)
    glow = spec.afterglow
    if glow is not None:
        xi, eta = _projected(geometry, glow.ra, glow.dec, AFTERGLOW)
        mags = {
            band: np.array(
                [
                    [glow.mag_at(band, step.mid_s) for step in spec.plan]
                    + [math.nan] * (N_SEQ_PER_BAND - len(spec.plan))
                ]
            )
            for band in BANDS
        }
        zeros = {band: np.zeros((1, N_SEQ_PER_BAND), np.int64) for band in BANDS}
        sources.extend(_Sources(xi, eta, mags, zeros, np.array([False]), np.array([False]), {AFTERGLOW: 0}))
    return sources


def _pieces(
    extra: InjectedSource, plan: tuple[SequencePlan, ...]
) -> list[tuple[str, float, float, NDArray[np.bool_]]]:
    """(label, ra, dec, sequence indices shown) of an injected source: itself, or a moving source's
    position at each sequence's mid-time (labelled ``label@nth``)."""
    every = np.ones(N_SEQ_PER_BAND, bool)
    east, north = extra.motion_arcsec_per_h
    if east == 0.0 and north == 0.0:
        return [(extra.label, extra.ra, extra.dec, every)]
    pieces = []
    for nth, step in enumerate(plan):
        hours = step.mid_s / 3600.0
        ra, dec = offset_position(
            extra.ra, extra.dec, math.hypot(east, north) * hours, math.degrees(math.atan2(east, north))
        )
        pieces.append((f"{extra.label}{MOVING_MARK}{nth}", ra, dec, np.arange(N_SEQ_PER_BAND) == nth))
    return pieces


def offset_position(
    ra: float, dec: float, offset_arcsec: float, position_angle_deg: float
) -> tuple[float, float]:
    """The point ``offset_arcsec`` from (ra, dec) along a great circle at ``position_angle_deg`` (east of
    north): exact on the sphere, so it holds at the pole."""
    new_ra, new_dec = offset_positions(
        np.array([ra]), np.array([dec]), np.array([offset_arcsec]), np.array([position_angle_deg])
    )
    return float(new_ra[0]), float(new_dec[0])


def offset_positions(
    ra: NDArray, dec: NDArray, offset_arcsec: NDArray, position_angle_deg: NDArray
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`offset_position` for arrays."""
    ra0, dec0 = np.radians(ra), np.radians(dec)
    distance, angle = np.radians(np.asarray(offset_arcsec) / 3600.0), np.radians(position_angle_deg)
    sin_dec = np.clip(
        np.sin(dec0) * np.cos(distance) + np.cos(dec0) * np.sin(distance) * np.cos(angle), -1.0, 1.0
    )
    d_ra = np.arctan2(
        np.sin(angle) * np.sin(distance) * np.cos(dec0), np.cos(distance) - np.sin(dec0) * sin_dec
    )
    return np.degrees(ra0 + d_ra) % 360.0, np.degrees(np.arcsin(sin_dec))


def _projected(geometry: FieldGeometry, ra: float, dec: float, label: str) -> tuple[NDArray, NDArray]:
    xi, eta = geometry.project(np.array([ra]), np.array([dec]))
    if not (np.isfinite(xi[0]) and np.isfinite(eta[0])):
        raise ConfigurationError(f"{label} at ({ra}, {dec}) is on the far side of the sky from the field")
    return xi, eta


def _without_replaced(sky: _Sources, spec: BurstSpec, geometry: FieldGeometry) -> _Sources:
    """Catalogue sources minus those an injected source replaces."""
    keep = np.ones(len(sky), bool)
    for extra in spec.injected:
        if extra.replaces_radius_arcsec > 0:
            xi, eta = geometry.project(np.array([extra.ra]), np.array([extra.dec]))
            keep &= np.hypot(sky.xi - xi[0], sky.eta - eta[0]) > extra.replaces_radius_arcsec
    return sky.keep(keep)


def _blend_groups(sources: _Sources, radius_arcsec: float) -> NDArray[np.int64]:
    """Group index of every source: sources linked by separations below ``radius_arcsec`` are one group."""
    n = len(sources)
    if n == 0:
        return np.zeros(0, np.int64)
    pairs = cKDTree(np.column_stack([sources.xi, sources.eta])).query_pairs(
        radius_arcsec, output_type="ndarray"
    )
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1].astype(np.int64)


# ---------------------------------------------------------------------------------------------------------
# Observing one sequence.


@dataclass
class _Blends:
    """The true sources merged into unresolved groups, for one band and sequence index."""

    flux: NDArray[np.float64]
    xi: NDArray[np.float64]
    eta: NDArray[np.float64]
    extended: NDArray[np.bool_]
    forced: NDArray[np.bool_]
    eflag: NDArray[np.int64]


def _blends(sources: _Sources, groups: NDArray[np.int64], band: str, nth: int) -> _Blends:
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    mags = sources.mags[band][:, nth]
    flux = np.where(np.isfinite(mags), 10.0 ** (-0.4 * np.nan_to_num(mags, nan=99.0)), 0.0)
    total = np.bincount(groups, flux, n_groups).astype(np.float64)
    safe = np.where(total > 0, total, 1.0)
    eflag = np.zeros(n_groups, np.int64)
    np.bitwise_or.at(eflag, groups, sources.eflags[band][:, nth])
    return _Blends(
        total,
        np.bincount(groups, flux * sources.xi, n_groups) / safe,
        np.bincount(groups, flux * sources.eta, n_groups) / safe,
        np.bincount(groups, flux * sources.extended, n_groups) / safe > 0.5,
        np.bincount(groups, sources.forced & np.isfinite(mags), n_groups) > 0,
        eflag,
    )


@dataclass(frozen=True)
class _Context:
    """What every sequence of one burst shares."""

    geometry: FieldGeometry
    detector: DetectorModel
    groups: NDArray[np.int64]
    intrinsic_ellipticity: NDArray[np.float64]
    saturated_dropped: dict[str, NDArray[np.bool_]]
    hot_pixels: dict[str, Table]


def _observe(
    sources: _Sources, context: _Context, seq: str, maglim: float, rng: np.random.Generator
) -> Table:
    """Detections of one sequence: noisy photometry and astrometry, completeness, flags, artefacts."""
    detector = context.detector
    blends = _blends(sources, context.groups, seq[0], int(seq[1]))
    noise = 10.0 ** (-0.4 * maglim) / 5.0
    photometry = _measure(blends, noise, maglim, detector, rng)
    detected = photometry.detected & ~(photometry.saturated & context.saturated_dropped[seq[0]])
    index = np.flatnonzero(detected)
    snr = photometry.flux[index] / noise
    sigma = np.hypot(detector.astrometric_floor_arcsec, detector.fwhm_arcsec / (FWHM_PER_SIGMA * snr))
    xi = blends.xi[index] + rng.normal(0.0, sigma)
    eta = blends.eta[index] + rng.normal(0.0, sigma)
    inside = context.geometry.inside(xi, eta)
    index, snr = index[inside], snr[inside]
    table = Table(
        {
            "_GROUP": index,
            "XI": xi[inside],
            "ETA": eta[inside],
            "MAGCAL": photometry.mag[index],
            "MAGERR": np.hypot(MAG_ERR_AT_UNIT_SNR / snr, detector.photometric_floor_mag),
            "EFLAG": blends.eflag[index] | np.where(photometry.saturated[index], SATURATED, 0),
            "ELLIPTY": _ellipticity(context.intrinsic_ellipticity[index], snr, rng),
        }
    )
    _add_random_flags(table, blends, context, rng)
    table = _with_artefacts(table, context, maglim, rng)
    return vstack([table, _cosmic_rays(context, maglim, rng), _hot_pixels(context, seq, maglim, rng)])


@dataclass
class _Photometry:
    """Measured flux and magnitude of every group, whether it passed detection, whether it saturates."""

    flux: NDArray[np.float64]
    mag: NDArray[np.float64]
    detected: NDArray[np.bool_]
    saturated: NDArray[np.bool_]


def _measure(
    blends: _Blends, noise: float, maglim: float, detector: DetectorModel, rng: np.random.Generator
) -> _Photometry:
    """Sky-limited flux noise plus a zero-point floor; logistic completeness in the measured magnitude.

    Injected sources are always detected (at their true flux if the noise made it negative), but for the
    share a list drops whatever it holds (``dropout_fraction``).
    """
    measured = blends.flux + rng.normal(0.0, noise * detector.noise_scale, len(blends.flux))
    measured *= 10.0 ** (-0.4 * rng.normal(0.0, detector.photometric_floor_mag, len(measured)))
    measured = np.where(blends.forced & (measured <= 0), blends.flux, measured)
    m50 = maglim + detector.completeness_offset_mag
    with np.errstate(divide="ignore", invalid="ignore"):
        mag = -2.5 * np.log10(measured)
        completeness = 1.0 / (1.0 + np.exp((mag - m50) / detector.completeness_width_mag))
    lucky = rng.random(len(mag)) < completeness
    detected = (blends.flux > 0) & (measured > 0) & (blends.forced | lucky)
    if detector.dropout_fraction > 0:
        detected &= rng.random(len(mag)) >= detector.dropout_fraction
    saturated = blends.flux > 10.0 ** (-0.4 * detector.saturation_mag)
    return _Photometry(measured, mag, detected, saturated)


def _ellipticity(
    intrinsic: NDArray[np.float64], snr: NDArray[np.float64], rng: np.random.Generator
) -> NDArray:
    """Measured ellipticity: the intrinsic shape plus a shape noise that grows as S/N falls."""
    return np.clip(intrinsic + np.abs(rng.normal(0.0, 0.3 / np.maximum(snr, 1.0))), 0.0, 0.95)


def _add_random_flags(table: Table, blends: _Blends, context: _Context, rng: np.random.Generator) -> None:
    """EFLAG bits where extraction is hard: anywhere (rarely), near bright stars, at the frame edges."""
    detector = context.detector
    n = len(table)
    eflag = np.asarray(table["EFLAG"])
    random = rng.random(n) < detector.flag_fraction
    eflag[random] |= rng.choice(RANDOM_FLAGS, int(random.sum()), p=RANDOM_FLAG_WEIGHTS)
    bright = np.flatnonzero(blends.flux > 10.0 ** (-0.4 * detector.bright_star_mag))
    if len(bright) and n:
        tree = cKDTree(np.column_stack([blends.xi[bright], blends.eta[bright]]))
        distance, which = tree.query(np.column_stack([table["XI"], table["ETA"]]), k=min(2, len(bright)))
        distance, which = distance.reshape(n, -1), which.reshape(n, -1)
        is_self = bright[np.minimum(which, len(bright) - 1)] == np.asarray(table["_GROUP"])[:, None]
        near = np.any((distance < detector.bright_star_radius_arcsec) & ~is_self, axis=1)
        near &= rng.random(n) < detector.near_bright_flag_fraction
        eflag[near] |= rng.choice(NEIGHBOUR_FLAGS, int(near.sum()))
    edge = context.geometry.near_edge(np.asarray(table["XI"]), np.asarray(table["ETA"]), detector.edge_px)
    edge &= rng.random(n) < detector.edge_flag_fraction
    eflag[edge] |= TRUNCATED
    table["EFLAG"] = eflag


def _with_artefacts(table: Table, context: _Context, maglim: float, rng: np.random.Generator) -> Table:
    """Spurious single-sequence detections near the limit, always flagged (extraction residuals)."""
    n = int(rng.poisson(context.detector.artefacts_per_sequence))
    if n == 0:
        return table
    half = context.geometry.half_width_arcsec
    xi_eta = (rng.uniform(-half, half, n), rng.uniform(-half, half, n))
    mag = maglim - rng.uniform(0.0, 2.0, n)
    spurious = _spurious(context, xi_eta, (mag, maglim), rng.choice(ARTEFACT_FLAGS, n))
    spurious["ELLIPTY"] = rng.uniform(0.3, 0.9, n)
    return vstack([table, spurious])


def _spurious(
    context: _Context, xi_eta: tuple[NDArray, NDArray], mag_limit: tuple[NDArray, float], eflag: NDArray
) -> Table:
    """Detections of no source (``_GROUP`` -1) at these places, magnitudes (in a stack of this limit) and
    flags; their shape is left to the caller."""
    mag, maglim = mag_limit
    snr = 5.0 * 10.0 ** (-0.4 * (mag - maglim))
    return Table(
        {
            "_GROUP": np.full(len(mag), -1),
            "XI": xi_eta[0],
            "ETA": xi_eta[1],
            "MAGCAL": mag,
            "MAGERR": np.hypot(MAG_ERR_AT_UNIT_SNR / snr, context.detector.photometric_floor_mag),
            "EFLAG": np.asarray(eflag, np.int64),
        }
    )


def _cosmic_rays(context: _Context, maglim: float, rng: np.random.Generator) -> Table:
    """Cosmic-ray residuals of one stack of one camera: 0.3-3 mag above its limit, half of them with a
    saturated pixel (EFLAG 4), the rest unflagged or as SExtractor flags a sharp blob."""
    n = int(rng.poisson(context.detector.cosmic_rays_per_sequence))
    half = context.geometry.half_width_arcsec
    xi_eta = (rng.uniform(-half, half, n), rng.uniform(-half, half, n))
    eflag = rng.choice(COSMIC_RAY_FLAGS, n, p=COSMIC_RAY_FLAG_WEIGHTS)
    table = _spurious(context, xi_eta, (maglim - rng.uniform(0.3, 3.0, n), maglim), eflag)
    table["ELLIPTY"] = rng.uniform(0.0, 0.9, n)
    return table


def _hot_pixels(context: _Context, seq: str, maglim: float, rng: np.random.Generator) -> Table:
    """The hot pixels of this sequence's camera, where they are in every stack of it."""
    hot = context.hot_pixels[seq[0]]
    mag = maglim - hot["HEIGHT"] + rng.normal(0.0, 0.1, len(hot))
    table = _spurious(context, (hot["XI"], hot["ETA"]), (np.asarray(mag), maglim), hot["EFLAG"])
    table["ELLIPTY"] = rng.uniform(0.0, 0.3, len(hot))
    return table


def _draw_hot_pixels(
    geometry: FieldGeometry, detector: DetectorModel, rng: np.random.Generator
) -> dict[str, Table]:
    """Per camera: where its hot pixels are, how far above each stack's limit, their flags."""
    half = geometry.half_width_arcsec
    hot = {}
    for band in BANDS:
        n = int(rng.poisson(detector.hot_pixels_per_camera))
        hot[band] = Table(
            {
                "XI": rng.uniform(-half, half, n),
                "ETA": rng.uniform(-half, half, n),
                "HEIGHT": rng.uniform(0.3, 2.0, n),
                "EFLAG": rng.choice(HOT_PIXEL_FLAGS, n),
            }
        )
    return hot


def _finalise(table: Table, geometry: FieldGeometry, rng: np.random.Generator) -> Table:
    """Shuffle the rows, number them 1..n (OBJID), add RA/DEC and pixel X/Y; keep _GROUP for the truth."""
    table = table[rng.permutation(len(table))]
    ra, dec = geometry.deproject(np.asarray(table["XI"]), np.asarray(table["ETA"]))
    x, y = geometry.pixels(np.asarray(table["XI"]), np.asarray(table["ETA"]))
    out = Table(
        {
            "OBJID": np.arange(1, len(table) + 1, dtype=np.int64),
            "X": x,
            "Y": y,
            "RA": ra,
            "DEC": dec,
            "MAGCAL": np.asarray(table["MAGCAL"], float),
            "MAGERR": np.asarray(table["MAGERR"], float),
            "EFLAG": np.asarray(table["EFLAG"], np.int64),
            "ELLIPTY": np.asarray(table["ELLIPTY"], float),
        }
    )
    out["_GROUP"] = np.asarray(table["_GROUP"], np.int64)
    out["RA"].unit = out["DEC"].unit = "deg"
    return out


# ---------------------------------------------------------------------------------------------------------
# The burst.


def simulate_burst(sky: Table, spec: BurstSpec, rng: np.random.Generator) -> SimulatedBurst:
    """Simulate the VT source lists and MXT position of one burst on ``sky``.

    ``sky`` has RA, DEC (deg), MAG_R, MAG_B (predicted VT AB magnitudes, NaN where unknown) and optionally
    PMRA, PMDEC (mas/yr, PMRA including cos dec), EPOCH (Julian year, default 2000) and EXTENDED (bool).
    """
    geometry = FieldGeometry(spec.ra, spec.dec, spec.half_width_arcmin * 60.0)
    t0 = _parse_time(spec.t0)
    sky_sources = _without_replaced(_sky_sources(sky, geometry, _julian_year(t0)), spec, geometry)
    sources = _Sources.constant([], [], [], [], [])
    sources.extend(sky_sources)
    maglims = [spec.detector.maglim(step.n_frames) for step in spec.plan]
    if spec.detector.faint_galaxies:
        sources.extend(_faint_galaxies(sky_sources, geometry, max(maglims) + 1.0, rng, spec.detector))
    sources.extend(_injected_sources(spec, geometry))
    groups = _blend_groups(sources, spec.detector.blend_radius_arcsec)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    dropped = {band: rng.random(n_groups) < spec.detector.saturated_drop_fraction for band in BANDS}
    for index in sources.labels.values():  # the afterglow and injected sources: flagged, never dropped
        for band in BANDS:
            dropped[band][groups[index]] = False
    context = _Context(
        geometry,
        spec.detector,
        groups,
        _intrinsic_ellipticity(sources, groups, n_groups, rng),
        dropped,
        _draw_hot_pixels(geometry, spec.detector, rng),
    )
    tables: dict[str, Table] = {}
    infos: dict[str, SequenceInfo] = {}
    for seq in spec.sequence_names:
        step, nth = spec.plan[int(seq[1])], int(seq[1])
        detections = _observe(sources, context, seq, maglims[nth], rng)
        tables[seq] = _finalise(detections, geometry, rng)
        infos[seq] = SequenceInfo(
            seq, round(maglims[nth], 3), _iso(t0 + timedelta(seconds=step.delay_s)), step.exposure_s
        )
    truth = _truth(spec, sources, groups, tables)
    for table in tables.values():
        del table["_GROUP"]
    return SimulatedBurst(spec.burst_id, tables, infos, _mxt_position(spec, rng), truth, t0)


def _intrinsic_ellipticity(
    sources: _Sources, groups: NDArray[np.int64], n_groups: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    """Point sources are round to a few per cent; galaxies are elongated (one shape per group)."""
    extended = np.bincount(groups, sources.extended, n_groups) > 0
    stars = np.abs(rng.normal(0.0, 0.03, n_groups))
    return np.where(extended, rng.uniform(0.05, 0.45, n_groups), stars)


def _truth(
    spec: BurstSpec, sources: _Sources, groups: NDArray[np.int64], tables: dict[str, Table]
) -> BurstTruth:
    objids: dict[str, dict[str, int]] = {}
    for label, index in sources.labels.items():
        group = groups[index]
        found = {
            seq: int(table["OBJID"][np.argmax(table["_GROUP"] == group)])
            for seq, table in tables.items()
            if np.any(table["_GROUP"] == group) and np.isfinite(sources.mags[seq[0]][index, int(seq[1])])
        }
        objids.setdefault(label.split(MOVING_MARK)[0], {}).update(found)
    mags: dict[str, float] = {}
    if spec.afterglow is not None:
        mags = {
            seq: round(spec.afterglow.mag_at(seq[0], spec.plan[int(seq[1])].mid_s), 4)
            for seq in spec.sequence_names
        }
    mid_times = {seq: spec.plan[int(seq[1])].mid_s for seq in spec.sequence_names}
    return BurstTruth(spec.afterglow, mags, mid_times, objids)


def _mxt_position(spec: BurstSpec, rng: np.random.Generator) -> MxtPosition | None:
    """The X-ray circle: its centre drawn around the afterglow (or the field centre) with P(inside) = 0.9,
    conditioned on containing it, as a consumer of a real R90 would assume."""
    if spec.mxt_r90_arcsec is None:
        return None
    anchor = (spec.afterglow.ra, spec.afterglow.dec) if spec.afterglow is not None else (spec.ra, spec.dec)
    return xray_circle(anchor[0], anchor[1], spec.mxt_r90_arcsec, rng, conditioned=True)


def xray_circle(
    ra: float, dec: float, r90_arcsec: float, rng: np.random.Generator, *, conditioned: bool = False
) -> MxtPosition:
    """An X-ray circle of radius ``r90_arcsec`` for a source at (ra, dec): its centre offset by a 2-D
    Gaussian error whose 90 % radius is ``r90_arcsec`` (so the circle misses the source one time in ten),
    or, ``conditioned``, drawn from that Gaussian given that the circle contains the source."""
    sigma = r90_arcsec * R90_TO_SIGMA
    radius = sigma * math.sqrt(-2.0 * math.log(1.0 - rng.uniform(0.0, 0.9 if conditioned else 1.0)))
    centre = offset_position(ra, dec, radius, math.degrees(rng.uniform(0.0, 2.0 * math.pi)))
    return MxtPosition(centre[0], centre[1], float(r90_arcsec))


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ConfigurationError(f"T0 '{text}' is not an ISO date-time (e.g. 2025-04-19T02:29:32)") from exc
    return moment.replace(tzinfo=None)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _julian_year(moment: datetime) -> float:
    """Julian epoch of a UTC date-time (TT - UTC, about a minute, is irrelevant to proper motions)."""
    days = (moment - datetime(2000, 1, 1, 12)).total_seconds() / 86400.0
    return 2000.0 + days / 365.25
