"""Derive the catalogue -> VT_R / VT_B colour transforms by synthetic photometry.

Regenerates ``vtac/data/vt_transforms.json``, the only file the runtime (:mod:`vtac.core.photometry`) reads::

    .venv/bin/pip install -e '.[tools]'                 # speclite, for the DECam (Legacy Surveys DR10) curves
    .venv/bin/python tools/derive_transforms.py          # writes the JSON
    .venv/bin/python tools/derive_transforms.py --check  # exit 1 if the committed JSON is stale

Method (the FSC equations are not public):

* Spectra. No PyPI package ships a real stellar library usable offline (pyckles and milespy download theirs
  at run time), so the training set is an approximation: blackbodies 3000-30000 K (stellar continua) plus
  power laws f_nu ~ nu^-beta, beta 0-1.5 (GRB afterglows). Blackbodies lack absorption features (Balmer
  jump, molecular bands of M stars). Checked once against real spectra of the Sun and Vega (the
  ``spectra_sun_vega.npz`` shipped by ppxf 9.5.2), the primary transforms are within 0.04 mag (mostly
  < 0.015): hence the systematic floor ``SYSTEMATIC_FLOOR``.
* Photometry. Photon-counting AB magnitudes, m = -2.5 log10(int f_nu T dlambda/lambda / int T dlambda/lambda)
  + const, on a 2 Angstrom grid. Gaia DR3 magnitudes are Vega: the runtime first adds the published AB-Vega
  zero-point differences (``to_ab``).
* Fits. For each catalogue and VT band, an ordered list of recipes VT = m_base + c0 + c1 x + c2 x^2 with x a
  catalogue colour, fitted on a training grid; the held-out grid (its midpoints) measures the rms again. The
  first recipe is the primary one; the others serve rows where one of its bands is missing.
* Errors. sigma = hypot(worst rms, floor): the worst of the training, held-out, blackbody-only and
  power-law-only rms (stars and afterglows must both be covered), the floor being ``SYSTEMATIC_FLOOR``, or
  ``PHOTOGRAPHIC_FLOOR`` for USNO-B1.
* Validity. The colour range spanned by the training spectra; outside it the runtime clips the colour and
  inflates the error.
* Typical-star prior. A row with the base band but no colour gets a typical star colour: that of the
  blackbodies matching the 16/50/84 % quantiles of SDSS g-i of real stars (the SDSS PhotoPrimary stars
  flagged photometric in the EGS field of ``shared/realdata``: 0.519, 1.609, 2.643).
* USNO-B1 (photographic: B ~ IIIaJ/103aO, R ~ IIIaF/103aE, I ~ IV-N; no curves). Its magnitudes are taken
  as Johnson B and Cousins R, I (Vega), the systems Monet et al. (2003, AJ 125, 984) calibrated them to with
  ~0.3 mag accuracy. They are synthesised from the SDSS synthetic magnitudes with Lupton (2005) (B from g, r;
  R from r, i; I from i, z) and then fitted like the others. The emulsion colour terms (e.g.
  B_J = B - 0.28 (B-V)) are ignored: over stellar colours they stay below ``PHOTOGRAPHIC_FLOOR`` = 0.3 mag.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable
from numpy.polynomial import polynomial as npoly

REPO = Path(__file__).resolve().parents[1]
BANDPASS_DIR = REPO / "vtac" / "data" / "bandpasses"
OUTPUT = REPO / "vtac" / "data" / "vt_transforms.json"

VT_CURVES = {"VT_R": "svom_vt/VT_R.dat", "VT_B": "svom_vt/VT_B.dat"}
CATALOG_CURVES: dict[str, dict[str, str]] = {
    "PS1DR1": {band: f"panstarrs/panstarrs-{band}.ecsv" for band in "grizy"},
    "SDSS12": {band: f"sdss/sdss2010-{band}.ecsv" for band in "griz"},
    "LSDR10": {band: f"speclite:decam2014-{band}" for band in "griz"},
    "GAIADR3": {band: f"gaia/gaiadr3-{band}.ecsv" for band in ("G", "BP", "RP")},
}
DECAM_COPY = "decam/decam2014-{band}.ecsv"

#: Gaia DR3 zero points (Riello et al. 2021): m_AB = m_Vega + (ZP_AB - ZP_Vega).
GAIA_TO_AB = {"G": 25.8010 - 25.6874, "BP": 25.3540 - 25.3385, "RP": 25.1040 - 24.7479}
#: SDSS asinh magnitudes are AB within these offsets (SDSS documentation): u_AB = u - 0.04, z_AB = z + 0.02.
SDSS_TO_AB = {"u": -0.04, "z": 0.02}

SYSTEMATIC_FLOOR = 0.03
PHOTOGRAPHIC_FLOOR = 0.30
DEFAULT_MAG_ERROR = 0.1
EXTRAPOLATION_SLOPE_FLOOR = 0.1
#: SDSS g-i quantiles (16, 50, 84 %) of real stars (see the module docstring): the typical-star prior.
STAR_GI_QUANTILES = (0.519, 1.609, 2.643)

TRAIN_TEMPERATURES = np.geomspace(3000.0, 30000.0, 33)
TRAIN_BETAS = np.linspace(0.0, 1.5, 7)
WAVELENGTH = np.arange(3000.0, 11600.0, 2.0)  # Angstrom: covers every curve used
H_OVER_K = 6.62607015e-27 / 1.380649e-16  # s K
SPEED_OF_LIGHT = 2.99792458e18  # Angstrom / s
ANGSTROM = u.Unit("Angstrom")

#: Ordered recipes "base:first-second", meaning VT = m_base + P(m_first - m_second).
RECIPES: dict[str, dict[str, str]] = {
    "PS1DR1": {
        "VT_R": "i:r-i i:i-z z:r-z r:g-r z:z-y g:g-r y:z-y",
        "VT_B": "g:g-r g:g-i g:g-z r:r-i r:r-z i:i-z z:z-y y:z-y",
    },
    "SDSS12": {
        "VT_R": "i:r-i i:i-z z:r-z r:g-r g:g-r z:i-z",
        "VT_B": "g:g-r g:g-i g:g-z r:r-i r:r-z i:i-z z:i-z",
    },
    "GAIADR3": {
        "VT_R": "RP:BP-RP RP:G-RP G:BP-G G:BP-RP BP:BP-RP",
        "VT_B": "G:BP-RP G:G-RP G:BP-G BP:BP-RP RP:BP-RP",
    },
    "USNOB1": {
        "VT_R": "R:B-R R:R-I I:R-I B:B-R",
        "VT_B": "B:B-R R:R-I I:R-I",
    },
}
RECIPES["LSDR10"] = RECIPES["SDSS12"]


@dataclass(frozen=True)
class CatalogMeta:
    """What the JSON says of a catalogue besides its recipes."""

    system: str
    to_ab: dict[str, float]
    curves: str
    floor: float = SYSTEMATIC_FLOOR


CATALOG_META = {
    "PS1DR1": CatalogMeta("AB", {}, "Pan-STARRS1 (Tonry et al. 2012) via speclite"),
    "SDSS12": CatalogMeta(
        "SDSS asinh, ~AB", SDSS_TO_AB, "SDSS 2010 (Doi et al. 2010) via speclite; no u curve: u is not used"
    ),
    "LSDR10": CatalogMeta("AB", {}, "DECam 2014 (speclite decam2014) for LS DR10 g, r, i, z"),
    "GAIADR3": CatalogMeta("Vega", GAIA_TO_AB, "Gaia (E)DR3 passbands (Riello et al. 2021)"),
    "USNOB1": CatalogMeta(
        "photographic, ~Johnson B / Cousins R, I (Vega)",
        {},
        "none: B, R, I from SDSS synthetic g, r, i, z by Lupton (2005); the polynomials absorb the Vega zero "
        "points; sigma includes a 0.3 mag photographic floor (Monet et al. 2003)",
        PHOTOGRAPHIC_FLOOR,
    ),
}

#: Synthetic magnitudes of a set of spectra: {"VT": {"VT_R": ...}, catalogue: {band: ...}}.
Magnitudes = dict[str, dict[str, np.ndarray]]


@dataclass(frozen=True)
class SyntheticSets:
    """Synthetic magnitudes of the training, held-out and typical-star (16/50/84 %) spectra."""

    train: Magnitudes
    held: Magnitudes
    typical: Magnitudes
    train_is_blackbody: np.ndarray
    held_is_blackbody: np.ndarray


def read_curve(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Wavelength (Angstrom) and response of one filter curve, from the package copy or from speclite."""
    if spec.startswith("speclite:"):
        return _speclite_curve(spec.removeprefix("speclite:"))
    path = BANDPASS_DIR / spec
    if path.suffix == ".dat":
        data = np.loadtxt(path, comments="#")
        return data[:, 0], data[:, 1]
    return _ecsv_curve(path)


def _ecsv_curve(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = QTable.read(path, format="ascii.ecsv")
    wave = table["wavelength"]
    unit = getattr(wave, "unit", None) or ANGSTROM
    return np.asarray(u.Quantity(wave, unit).to_value(ANGSTROM), float), np.asarray(table["response"], float)


def _speclite_curve(name: str) -> tuple[np.ndarray, np.ndarray]:
    import speclite.filters  # pylint: disable=import-outside-toplevel  # optional "tools" extra

    response = speclite.filters.load_filter(name)
    wave = np.asarray(response.wavelength, float)
    values = np.asarray(response.response, float)
    copy_wave, copy_values = _ecsv_curve(BANDPASS_DIR / DECAM_COPY.format(band=name.rsplit("-", 1)[1]))
    if copy_wave.shape != wave.shape or not (
        np.allclose(copy_wave, wave) and np.allclose(copy_values, values)
    ):
        warnings.warn(f"speclite {name} differs from the copy under {BANDPASS_DIR}", stacklevel=2)
    return wave, values


def blackbody_fnu(temperature: float) -> np.ndarray:
    """Planck f_nu (arbitrary scale) on :data:`WAVELENGTH`."""
    nu = SPEED_OF_LIGHT / WAVELENGTH
    return np.asarray(nu**3 / np.expm1(H_OVER_K * nu / temperature))


def power_law_fnu(beta: float) -> np.ndarray:
    """f_nu ~ nu^-beta on :data:`WAVELENGTH`."""
    return np.asarray((WAVELENGTH / 5500.0) ** beta)


def spectra_grid(temperatures: Iterable[float], betas: Iterable[float] = ()) -> np.ndarray:
    """Blackbodies then power laws, one row per spectrum."""
    return np.vstack([blackbody_fnu(t) for t in temperatures] + [power_law_fnu(b) for b in betas])


def ab_magnitudes(spectra: np.ndarray, curve: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Photon-counting AB magnitudes (up to a constant common to all bands) of spectra (n, wavelength)."""
    weight = np.interp(WAVELENGTH, curve[0], curve[1], left=0.0, right=0.0) / WAVELENGTH
    return np.asarray(-2.5 * np.log10(spectra @ weight / weight.sum()))


def synthetic_magnitudes(spectra: np.ndarray) -> Magnitudes:
    """AB magnitudes of each spectrum in the VT bands and in every catalogue band."""
    mags = {"VT": {band: ab_magnitudes(spectra, read_curve(spec)) for band, spec in VT_CURVES.items()}}
    for catalog, curves in CATALOG_CURVES.items():
        mags[catalog] = {band: ab_magnitudes(spectra, read_curve(spec)) for band, spec in curves.items()}
    mags["USNOB1"] = usno_from_sdss(mags["SDSS12"])
    return mags


def usno_from_sdss(sdss: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Johnson B, Cousins R, I (Vega) from SDSS g, r, i, z by Lupton (2005): the USNO-B1 stand-ins."""
    g, r, i, z = (sdss[band] for band in "griz")
    return {
        "B": g + 0.3130 * (g - r) + 0.2271,
        "R": r - 0.2936 * (r - i) - 0.1439,
        "I": i - 0.3780 * (i - z) - 0.3974,
    }


def held_out_parameters() -> tuple[np.ndarray, np.ndarray]:
    """Midpoints of the training grid: spectra never used in the fits."""
    temperatures = np.sqrt(TRAIN_TEMPERATURES[1:] * TRAIN_TEMPERATURES[:-1])
    return temperatures, 0.5 * (TRAIN_BETAS[1:] + TRAIN_BETAS[:-1])


def typical_star_temperatures(sdss_gi: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Blackbody temperatures whose SDSS g-i match :data:`STAR_GI_QUANTILES` (clamped to 3000-30000 K)."""
    grid = np.geomspace(3000.0, 30000.0, 400)
    colours = sdss_gi(grid)
    order = np.argsort(colours)
    return np.asarray(np.interp(STAR_GI_QUANTILES, colours[order], grid[order]))


def synthetic_sets() -> SyntheticSets:
    """Synthesise the three sets of spectra the fits need."""

    def sdss_gi(temperatures: np.ndarray) -> np.ndarray:
        sdss = synthetic_magnitudes(spectra_grid(temperatures))["SDSS12"]
        return sdss["g"] - sdss["i"]

    held_temperatures, held_betas = held_out_parameters()
    return SyntheticSets(
        train=synthetic_magnitudes(spectra_grid(TRAIN_TEMPERATURES, TRAIN_BETAS)),
        held=synthetic_magnitudes(spectra_grid(held_temperatures, held_betas)),
        typical=synthetic_magnitudes(spectra_grid(typical_star_temperatures(sdss_gi))),
        train_is_blackbody=np.arange(TRAIN_TEMPERATURES.size + TRAIN_BETAS.size) < TRAIN_TEMPERATURES.size,
        held_is_blackbody=np.arange(held_temperatures.size + held_betas.size) < held_temperatures.size,
    )


def parse_recipe(text: str) -> tuple[str, str, str]:
    """``'i:r-i'`` -> ``('i', 'r', 'i')``."""
    base, colour = text.split(":")
    first, second = colour.split("-")
    return base, first, second


def fit_recipe(text: str, vt_band: str, catalog: str, sets: SyntheticSets) -> dict[str, object]:
    """Fit one recipe of one catalogue and VT band; return its JSON entry.

    sigma takes the worst of the training, held-out, blackbody-only and power-law-only rms: a remote fallback
    (e.g. VT_R from r and g-r) fits stars and afterglows with different offsets, and must be honest for both.
    """
    base, first, second = parse_recipe(text)

    def colour_and_target(mags: Magnitudes) -> tuple[np.ndarray, np.ndarray]:
        cat = mags[catalog]
        return cat[first] - cat[second], mags["VT"][vt_band] - cat[base]

    colour, target = colour_and_target(sets.train)
    coeffs = npoly.polyfit(colour, target, 2)
    residual = npoly.polyval(colour, coeffs) - target
    held_colour, held_target = colour_and_target(sets.held)
    held_residual = npoly.polyval(held_colour, coeffs) - held_target
    both = np.concatenate([residual, held_residual])
    is_blackbody = np.concatenate([sets.train_is_blackbody, sets.held_is_blackbody])
    families = {"blackbody": _rms(both[is_blackbody]), "power_law": _rms(both[~is_blackbody])}
    worst = max(_rms(residual), _rms(held_residual), *families.values())
    star_colour = colour_and_target(sets.typical)[0]
    return {
        "base": base,
        "colour": [first, second],
        "coeffs": [round(float(c), 5) for c in coeffs],
        "rms": round(_rms(residual), 4),
        "rms_holdout": round(_rms(held_residual), 4),
        "rms_by_family": {name: round(value, 4) for name, value in families.items()},
        "sigma": round(float(np.hypot(worst, CATALOG_META[catalog].floor)), 4),
        "range": [round(float(colour.min()), 3), round(float(colour.max()), 3)],
        "prior": [round(float(star_colour[1]), 3), round(float(abs(star_colour[2] - star_colour[0]) / 2), 3)],
    }


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def catalog_entry(catalog: str, sets: SyntheticSets) -> dict[str, object]:
    """The JSON entry of one catalogue: its magnitude system, offsets, curves and recipes per VT band."""
    meta = CATALOG_META[catalog]
    entry: dict[str, object] = {
        "system": meta.system,
        "to_ab": {band: round(value, 4) for band, value in meta.to_ab.items()},
        "curves": meta.curves,
    }
    for vt_band, recipes in RECIPES[catalog].items():
        entry[vt_band] = [fit_recipe(text, vt_band, catalog, sets) for text in recipes.split()]
    return entry


def build_document() -> dict[str, object]:
    """The whole JSON document, deterministic (no timestamp) so that a regeneration diff means a change."""
    sets = synthetic_sets()
    return {
        "schema_version": 1,
        "generated_by": "tools/derive_transforms.py",
        "description": (
            "VT AB magnitude = m_base + to_ab[base] + c0 + c1 x + c2 x^2 with x = (m_a + to_ab[a]) - "
            "(m_b + to_ab[b]) for colour [a, b]; recipes in order of preference; sigma = transform error "
            "(mag); range = colour range of validity; prior = typical-star colour [centre, sigma]."
        ),
        "spectra": (
            f"{TRAIN_TEMPERATURES.size} blackbodies 3000-30000 K (log-spaced) and {TRAIN_BETAS.size} power "
            "laws f_nu ~ nu^-beta, beta 0-1.5; held-out set: the grid midpoints. An approximation: no real "
            f"stellar library was usable offline; systematic floor {SYSTEMATIC_FLOOR} mag (Sun/Vega check)."
        ),
        "vt_curves": "zHunter VT_R.dat / VT_B.dat (active rows only), photon-counting",
        "default_mag_error": DEFAULT_MAG_ERROR,
        "extrapolation_slope_floor": EXTRAPOLATION_SLOPE_FLOOR,
        "catalogs": {catalog: catalog_entry(catalog, sets) for catalog in CATALOG_META},
    }


FLAT_LIST = re.compile(r"\[\s+([^\[\]{}]*?)\s+\]")


def render(document: dict[str, object]) -> str:
    """Stable JSON text, short lists on one line so that a regeneration diff stays readable."""
    text = json.dumps(document, indent=1, ensure_ascii=False)
    return (
        FLAT_LIST.sub(lambda m: "[" + ", ".join(part.strip() for part in m[1].split(",")) + "]", text) + "\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write the JSON, or with --check only compare it (exit 1: the committed file is stale)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON")
    parser.add_argument("--check", action="store_true", help="only compare with --output; exit 1 if stale")
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        print("up to date" if current == text else f"{args.output} is stale: rerun without --check")
        return 0 if current == text else 1
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
