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
    transform_sigma_floor: float = Field(
        0.03, ge=0, description="Least uncertainty of a catalogue magnitude converted to a VT band."
    )
    transform_sigma_per_mag: float = Field(
        0.2,
        ge=0,
        description="Extra transform uncertainty per mag of B-R above the onset: independent synthetic "
        "photometry puts M-dwarf transform errors at 0.15-0.35 mag.",
    )
    transform_red_onset: float = Field(0.8, description="B-R above which the transform uncertainty grows.")
    pchance_max: float = Field(
        0.1,
        gt=0,
        le=1,
        description="A counterpart this probable by chance whose magnitude disagrees everywhere is rejected.",
    )
    completeness_width: float = Field(
        0.25, gt=0, description="Width (mag) of a sequence's completeness roll-off around MAGLIM."
    )
    bluest_colour: float = Field(
        -0.5,
        description="Bluest VT_B - VT_R of an astrophysical source: a VT_B detection that the simultaneous "
        "VT_R stack would have seen even this blue, and did not, is a detector artefact.",
    )
    faintest_saturated_mag: float = Field(
        16.0,
        description="A saturation flag (EFLAG 4) on a detection fainter than this is a cosmic ray: the VT "
        "saturates on stars of about 12th magnitude in a 50 s frame.",
    )
    first_sequence_delay_s: float = Field(
        300.0,
        gt=0,
        description="Assumed trigger-to-first-sequence delay when the trigger time is unknown (light-curve "
        "times); a wrong value changes alpha a little, not the ranking.",
    )
    no_afterglow_prior: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="Prior probability that no afterglow is detected (VT-VHF data gave counterparts "
        "for about 56 of 78 %: 0.3).",
    )
    best_probability_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="BEST_CANDIDATES: afterglow probability at or above this. 0.5: a best candidate is more "
        "likely the afterglow than not, so a BA announcing it is more often right than wrong (calibrated P; "
        "the threshold curve of bench/science.md gives the trade-off).",
    )
    candidate_min_probability: float = Field(
        0.01, ge=0, le=1, description="CANDIDATES: sources at least this likely to be the afterglow."
    )
    candidate_radius_r90: float = Field(
        2.0,
        gt=0,
        description="CANDIDATES: sources within this many R90 of the X-ray centre (a 90 % circle misses one "
        "afterglow in ten: the probability, not a cut, weighs the distance).",
    )
    moving_speed_arcsec_h: tuple[float, float] = Field(
        (3.0, 300.0), description="Speeds (arcsec/h) at which single-epoch sources are linked as one mover."
    )
    max_best_candidates: int = Field(3, ge=1, description="N_CAND: at most this many best candidates.")
    model_file: str | None = Field(
        None,
        description="JSON afterglow model replacing the packaged vtac/data/afterglow_model.json "
        "(refit with tools/fit_model.py).",
    )
    high_z_colour: float = Field(
        1.0, description="Mean B-R above this (or B undetected this deep) suggests z >~ 4 (Ly-alpha in VT_B)."
    )
    transforms_file: str | None = Field(
        None,
        description="JSON of colour transforms replacing the packaged vtac/data/vt_transforms.json "
        "(same layout; regenerate with tools/derive_transforms.py).",
    )
