"""Science parameters of VTAC: every threshold the FSC has not published, with its default and why.

The service and the command line nest this model in their settings, so each value can be changed through
``VTAC_SCIENCE__<NAME>`` without touching code.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Approximate 5-sigma depths of each catalogue in VT_R and VT_B (AB). A VT source fainter than
#: ``depth - new_source_margin`` cannot be called new from that catalogue (it is "unknown").
DEFAULT_DEPTHS: dict[str, tuple[float, float]] = {
    # DR10 5-sigma g 24.0, r 23.4, i 23.0, z 22.5; VT_R sits between r and z.
    "LSDR10": (23.0, 23.8),
    # PS1 mean single-epoch 5-sigma g 22.0, r 21.8, i 21.5, z 20.9.
    "PS1DR1": (21.5, 22.0),
    # SDSS 95 % completeness for point sources g 22.2, r 22.2, i 21.3; counts of the EGS field turn over at
    # VT_R 21.75.
    "SDSS12": (21.7, 22.2),
    # Gaia G 20.7; VT_R of typical stars is ~0.4 mag brighter than G.
    "GAIADR3": (20.3, 20.7),
    # Photographic plates, V ~ 21 nominal, ~20 in practice.
    "USNOB1": (19.5, 20.0),
}


class ScoreWeights(BaseModel):
    """Log-odds weights of the afterglow score: score = 1 / (1 + exp(-(bias + sum of weighted evidence))).

    The bias encodes the prior: most sources in a VT field are not the afterglow. The weights were set so
    that an uncatalogued source seen in both bands in several sequences inside the X-ray circle scores above
    0.95, a catalogued star that merely flared scores lower than an uncatalogued one, and a single flagged
    detection near the VT limit stays below 0.1 (checked on simulated bursts in the tests).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bias: float = -4.0
    new_source: float = 3.0
    new_source_per_extra_sequence: float = 0.5
    brighter_than_catalog: float = 2.5
    brighter_per_extra_sequence: float = 0.5
    extra_sequence_cap: float = 1.5
    fainter_than_catalog: float = 0.5
    faded: float = 1.5
    faded_in_both_bands: float = 1.0
    brightened_between_sequences: float = 0.5
    both_bands: float = 1.0
    per_extra_detection: float = 0.5
    extra_detection_cap: float = 2.0
    inside_mxt: float = 1.0
    flagged_fraction: float = -3.0
    single_detection_near_limit: float = -1.5
    well_above_catalog_limit: float = 0.5


class ScienceConfig(BaseModel):
    """Thresholds of association, cross-match, flags and ranking."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    association_radius_arcsec: float = Field(
        1.0, gt=0, description="R_XMATCH: detections of different sequences closer than this are one source."
    )
    vt_astrometric_floor_arcsec: float = Field(
        0.3, gt=0, description="Systematic VT position error (VT vs Gaia DR3: 0.03-0.25 arcsec, VHF 0.5)."
    )
    vt_fwhm_arcsec: float = Field(
        2.0, gt=0, description="VT PSF FWHM; the statistical position error is FWHM / (2.355 SNR)."
    )
    match_sigma: float = Field(3.0, gt=0, description="Catalogue match radius in combined position sigmas.")
    match_radius_min_arcsec: float = Field(1.0, gt=0, description="Smallest catalogue match radius.")
    match_radius_max_arcsec: float = Field(3.0, gt=0, description="Largest catalogue match radius.")
    catalog_depths: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: dict(DEFAULT_DEPTHS),
        description="Per-catalogue (VT_R, VT_B) 5-sigma depth in AB mag.",
    )
    new_source_margin: float = Field(
        0.5, ge=0, description="A source is new only if brighter than catalogue depth minus this margin."
    )
    dmag_threshold: float = Field(
        0.75, gt=0, description="|VT - catalogue| above max(this, dmag_sigma * sigma) sets DMAG_CAT."
    )
    dmag_sigma: float = Field(4.0, gt=0, description="As variability_sigma: many sources x 8 sequences.")
    variability_threshold: float = Field(
        0.3, gt=0, description="|delta mag| between consecutive sequences above max(this, n sigma) varies."
    )
    variability_sigma: float = Field(
        4.0,
        gt=0,
        description="Each field has hundreds of sources x 6 pairs: 3 sigma would flag several by chance.",
    )
    photometric_floor: float = Field(0.02, ge=0, description="VT zero-point stability (mag).")
    limit_margin: float = Field(
        1.0,
        ge=0,
        description="A non-detection proves fading only when the limit is deeper than the last magnitude by "
        "this (and by variability_sigma errors): near the limit completeness drops and thousands of field "
        "sources would otherwise 'vanish' by chance.",
    )
    mxt_margin_arcsec: float = Field(1.0, ge=0, description="Added to R90 for IN_MXT (VT position error).")
    pchance_density_radius_arcmin: float = Field(
        5.0, gt=0, description="Least radius of the field in which the local catalogue density is counted."
    )
    best_score_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="BEST_CANDIDATES: score at or above this (more likely than not to be the afterglow).",
    )
    max_best_candidates: int = Field(3, ge=1, description="N_CAND: at most this many best candidates.")
    high_z_colour: float = Field(
        1.0, description="Mean B-R above this (or B undetected this deep) suggests z >~ 4 (Ly-alpha in VT_B)."
    )
    transforms_file: str | None = Field(
        None,
        description="JSON of colour transforms replacing the packaged vtac/data/vt_transforms.json "
        "(same layout; regenerate with tools/derive_transforms.py).",
    )
    score_weights: ScoreWeights = Field(default_factory=ScoreWeights)
