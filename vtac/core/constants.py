"""The fixed numbers of VTAC's science, named once, each with why it has its value.

Thresholds a user may tune are fields of :class:`vtac.core.science_settings.ScienceConfig`; what is here is
fixed by physics, the instrument, a survey or a convention, and shared by the core and the simulation.
The values are those the code always used (a rounded 1.0857 stays 1.0857): changing one changes science
results.
"""

from __future__ import annotations

from types import MappingProxyType

from vtac.core.flags import EFlag

# --- units and conventions
#: Milliarcseconds per degree: proper motions (mas/yr) to positions (deg).
MAS_PER_DEG = 3.6e6
#: Magnitude error of a source of signal-to-noise 1 (2.5 / ln 10, Pogson): MAGERR = 1.0857 / SNR.
MAG_ERR_AT_UNIT_SNR = 1.0857
#: FWHM of a Gaussian PSF in units of its sigma (2 sqrt(2 ln 2)): position error = FWHM / (2.355 SNR).
FWHM_PER_SIGMA = 2.355
#: Catalogue epoch (Julian year) when a table gives none: the catalogues VTAC reads are at J2000 or later.
DEFAULT_CATALOG_EPOCH = 2000.0

# --- the VT instrument
#: One VT frame lasts 50 s; a sequence stacks whole frames (the VT observing plan).
VT_FRAME_S = 50.0
#: VT pixel scale on the sky (arcsec per pixel), from the VT design.
VT_PIXEL_SCALE_ARCSEC = 0.76

# --- VT detections
#: EFLAG bits that cast doubt on an extraction (SExtractor: neighbours, blended, truncated, other).
EFLAG_DOUBT_BITS = int(EFlag.NEIGHBOURS | EFlag.BLENDED | EFlag.TRUNCATED | EFlag.OTHER)
#: EFLAG bit of a saturated detection: bright, so no doubt that the source is real.
EFLAG_SATURATED = int(EFlag.SATURATED)

# --- the reference catalogues
#: Typical 1-sigma position error of each catalogue (arcsec) at its own epoch (faint sources' order).
CATALOG_POSITION_ERROR_ARCSEC = MappingProxyType(
    {
        "GAIADR3": 0.01,
        "PS1DR1": 0.05,
        "SDSS12": 0.1,
        "LSDR10": 0.05,
        "USNOB1": 0.25,
    }
)
#: Position error (arcsec) of a catalogue not in the table above: as poor as the worst modern survey.
UNKNOWN_CATALOG_POSITION_ERROR_ARCSEC = 0.2
#: A catalogue with no source this close to a detection has no data there (hole, edge, bright-star mask).
COVERAGE_RADIUS_ARCSEC = 120.0
#: Fewer catalogue sources in the field than this cannot show where the counts turn over (depth unknown).
MIN_ROWS_FOR_DEPTH = 100
#: Magnitude bin (mag) of the field's catalogue counts whose turnover measures the catalogue's depth.
DEPTH_BIN_MAG = 0.25

# --- missing errors
#: A VT detection without MAGERR is taken as a 5-sigma one (1.0857 / 0.2 ~ SNR 5, the detection limit).
MISSING_VT_MAGERR = 0.2
#: A catalogue magnitude without an error: 0.3 mag, the scatter of photographic (USNO-B1) magnitudes.
MISSING_CATALOG_MAGERR = 0.3
