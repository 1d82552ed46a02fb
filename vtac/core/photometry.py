"""Predicted VT_R / VT_B AB magnitudes of reference-catalogue sources.

VTAC compares each VT source with its catalogue counterpart, so catalogue photometry must be turned into the
magnitude the VT would have measured. The FSC equations are not public; ours come from synthetic photometry
with the VT curves (zHunter VT_R.dat / VT_B.dat) and each survey's curves, and live in the package data file
``vtac/data/vt_transforms.json`` (read once, lazily):

* **Form.** Per catalogue and VT band, an ordered list of recipes ``VT = m_base + c0 + c1 x + c2 x^2`` with
  ``x`` a catalogue colour (AB, after the catalogue's ``to_ab`` offsets). Primary recipes: PS1, SDSS, LS
  ``VT_R = i + P(r-i)``, ``VT_B = g + P(g-r)``; Gaia ``VT_R = RP + P(BP-RP)``, ``VT_B = G + P(BP-RP)`` (Gaia
  input is Vega, as published); USNO-B1 ``VT_R = R + P(B-R)``, ``VT_B = B + P(B-R)`` (photographic, the two
  epochs B1/B2 and R1/R2 averaged where both exist). SDSS u is not used (no curve).
* **Fallbacks, per row.** The first recipe whose three bands are measured wins: a secondary colour when a
  colour band is missing, a neighbouring base band when the primary one is missing. A row with no usable
  colour takes the first recipe whose base band it has, with a typical-star colour (``prior``) whose spread
  enlarges the error. A row with none of the base bands gets NaN.
* **Errors.** ``hypot(catalogue errors propagated through the recipe, transform sigma)``. Missing or
  non-positive catalogue errors count as ``default_mag_error`` (0.1). Magnitudes outside (0, 35), i.e. survey
  sentinels such as 99 or -999, count as missing.
* **Validity.** A recipe holds over the colour range of its training spectra. Outside it the colour is
  clipped and the error grows by ``|x - x_clipped| * max(|P'(edge)|, extrapolation_slope_floor)``.
* **Accuracy and its limits.** The training spectra are blackbodies (3000-30000 K) and power laws
  f_nu ~ nu^-beta (beta 0-1.5, afterglows): no real stellar library could be used offline. The fit rms is
  0.002-0.02 mag for the primary recipes, whose sigma is 0.03-0.04 with a 0.03 mag systematic floor
  (residuals on real Sun and Vega spectra stay below 0.04); remote fallbacks reach 0.1-0.45 (VT_B from z and
  z-y). Late M stars (molecular bands) and emission-line objects are described less well. USNO-B1 transforms
  go through the Lupton (2005) Johnson-Cousins relations and carry a 0.3 mag photographic floor.

Regenerate the JSON with ``python tools/derive_transforms.py`` (needs the ``tools`` extra, i.e. speclite);
``--check`` tells whether the committed file is stale. See ``tools/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from vtac.errors import ConfigurationError

if TYPE_CHECKING:
    from astropy.table import Table

FloatArray = NDArray[np.float64]

CATALOG_BANDS: dict[str, tuple[str, ...]] = {
    "PS1DR1": ("g", "r", "i", "z", "y"),
    "SDSS12": ("u", "g", "r", "i", "z"),
    "LSDR10": ("g", "r", "i", "z"),
    "GAIADR3": ("G", "BP", "RP"),
    "USNOB1": ("B1", "R1", "B2", "R2", "I"),
}
#: USNO-B1 epochs averaged into one band each: band -> (first epoch, second epoch). I has one epoch.
USNO_EPOCHS = {"B": ("B1", "B2"), "R": ("R1", "R2")}
TRANSFORMS_FILE = ("data", "vt_transforms.json")
#: Catalogue magnitudes outside this open interval are survey sentinels (99, -999, 0), not measurements.
VALID_MAG_RANGE = (0.0, 35.0)


@dataclass(frozen=True)
class VTPrediction:
    """Predicted VT AB magnitudes and 1-sigma errors, one element per catalogue row (NaN: impossible)."""

    mag_r: FloatArray
    err_r: FloatArray
    mag_b: FloatArray
    err_b: FloatArray


@dataclass(frozen=True)
class ColourTransform:
    """One recipe: VT = m_base + c0 + c1 x + c2 x², x = m_first - m_second, valid for lo <= x <= hi."""

    base: str
    first: str
    second: str
    coeffs: tuple[float, float, float]
    sigma: float
    lo: float
    hi: float
    prior: float
    prior_sigma: float

    def offset_and_slope(self, colour: FloatArray | float) -> tuple[FloatArray, FloatArray]:
        """VT - m_base and its derivative with respect to the colour."""
        c0, c1, c2 = self.coeffs
        x = np.asarray(colour, dtype=float)
        return c0 + x * (c1 + c2 * x), c1 + 2.0 * c2 * x


@dataclass(frozen=True)
class CatalogTransforms:
    """Everything needed to predict VT magnitudes from one catalogue."""

    name: str
    to_ab: dict[str, float]
    recipes: dict[str, tuple[ColourTransform, ...]]
    default_mag_error: float
    slope_floor: float


@cache
def load_transforms(path: str | None = None) -> dict[str, CatalogTransforms]:
    """Parse a transforms file once (lazily: importing this module reads nothing).

    ``path`` (``ScienceConfig.transforms_file``) replaces the packaged file, e.g. with coefficients fitted on
    a real stellar library; it must follow the layout of ``vtac/data/vt_transforms.json``.
    """
    if path is None:
        resource = resources.files("vtac")
        for part in TRANSFORMS_FILE:
            resource = resource.joinpath(part)
        text = resource.read_text(encoding="utf-8")
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigurationError(f"colour transforms file {path}: {error.strerror}") from error
    document = json.loads(text)
    try:
        return {name: _catalog(name, entry, document) for name, entry in document["catalogs"].items()}
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigurationError(
            f"colour transforms file {path or 'packaged'}: bad layout ({error})"
        ) from error


def _catalog(name: str, entry: dict[str, Any], document: dict[str, Any]) -> CatalogTransforms:
    recipes = {band: tuple(_recipe(item) for item in entry[band]) for band in ("VT_R", "VT_B")}
    return CatalogTransforms(
        name=name,
        to_ab={band: float(value) for band, value in entry["to_ab"].items()},
        recipes=recipes,
        default_mag_error=float(document["default_mag_error"]),
        slope_floor=float(document["extrapolation_slope_floor"]),
    )


def _recipe(item: dict[str, Any]) -> ColourTransform:
    c0, c1, c2 = (float(c) for c in item["coeffs"])
    return ColourTransform(
        base=item["base"],
        first=item["colour"][0],
        second=item["colour"][1],
        coeffs=(c0, c1, c2),
        sigma=float(item["sigma"]),
        lo=float(item["range"][0]),
        hi=float(item["range"][1]),
        prior=float(item["prior"][0]),
        prior_sigma=float(item["prior"][1]),
    )


def catalog_transforms(catalog: str, path: str | None = None) -> CatalogTransforms:
    """The transforms of one catalogue; an unknown name is a configuration error."""
    transforms = load_transforms(path)
    if catalog not in transforms or catalog not in CATALOG_BANDS:
        known = ", ".join(sorted(set(transforms) & set(CATALOG_BANDS)))
        raise ConfigurationError(f"no VT colour transform for catalogue {catalog!r} (known: {known})")
    return transforms[catalog]


def predict_vt(catalog: str, table: Table, transforms_file: str | None = None) -> VTPrediction:
    """Predicted VT_R and VT_B magnitudes of every row of a catalogue table (``MAG_<band>``, ``ERR_<band>``).

    A band whose column is absent counts as missing for every row; ``transforms_file`` replaces the
    packaged transforms (see :func:`load_transforms`).
    """
    transforms = catalog_transforms(catalog, transforms_file)
    mags, errs = _photometry(catalog, table, transforms)
    n_rows = len(table)
    mag_r, err_r = _predict_band(transforms.recipes["VT_R"], mags, errs, n_rows, transforms.slope_floor)
    mag_b, err_b = _predict_band(transforms.recipes["VT_B"], mags, errs, n_rows, transforms.slope_floor)
    return VTPrediction(mag_r=mag_r, err_r=err_r, mag_b=mag_b, err_b=err_b)


def _photometry(
    catalog: str, table: Table, transforms: CatalogTransforms
) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """AB magnitudes and errors per band (NaN magnitude = missing), USNO-B1 epochs averaged."""
    mags: dict[str, FloatArray] = {}
    errs: dict[str, FloatArray] = {}
    for band in CATALOG_BANDS[catalog]:
        mag = _column(table, f"MAG_{band}")
        mag[(mag <= VALID_MAG_RANGE[0]) | (mag >= VALID_MAG_RANGE[1])] = np.nan
        err = _column(table, f"ERR_{band}")
        err[~(err > 0.0)] = transforms.default_mag_error
        mags[band] = mag + transforms.to_ab.get(band, 0.0)
        errs[band] = err
    if catalog == "USNOB1":
        return _average_epochs(mags, errs)
    return mags, errs


def _column(table: Table, name: str) -> FloatArray:
    """A float copy of one column, masked and absent values as NaN."""
    if name not in table.columns:
        return np.full(len(table), np.nan)
    column = table[name]
    if not np.ma.isMaskedArray(column):  # the masked-array path costs 20x more
        return np.array(column, dtype=float)
    return np.asarray(np.ma.filled(np.ma.asarray(column).astype(float), np.nan), dtype=float)


def _average_epochs(
    mags: dict[str, FloatArray], errs: dict[str, FloatArray]
) -> tuple[dict[str, FloatArray], dict[str, FloatArray]]:
    """Mean of the two USNO-B1 epochs where both exist, else the one that exists (error of the mean)."""
    out_mags: dict[str, FloatArray] = {"I": mags["I"]}
    out_errs: dict[str, FloatArray] = {"I": errs["I"]}
    for band, (first, second) in USNO_EPOCHS.items():
        m1, m2, e1, e2 = mags[first], mags[second], errs[first], errs[second]
        both = np.isfinite(m1) & np.isfinite(m2)
        out_mags[band] = np.where(both, 0.5 * (m1 + m2), np.where(np.isfinite(m1), m1, m2))
        out_errs[band] = np.where(both, 0.5 * np.hypot(e1, e2), np.where(np.isfinite(m1), e1, e2))
    return out_mags, out_errs


def _predict_band(
    recipes: tuple[ColourTransform, ...],
    mags: dict[str, FloatArray],
    errs: dict[str, FloatArray],
    n_rows: int,
    slope_floor: float,
) -> tuple[FloatArray, FloatArray]:
    """Per row, the first recipe whose bands are measured; then the typical-star colour; else NaN.

    Vectorised per recipe: each pass only touches the rows still without a prediction.
    """
    out_mag = np.full(n_rows, np.nan)
    out_err = np.full(n_rows, np.nan)
    measured = {band: np.isfinite(mag) for band, mag in mags.items()}
    pending = np.ones(n_rows, dtype=bool)
    for recipe in recipes:
        selected = pending & measured[recipe.base] & measured[recipe.first] & measured[recipe.second]
        rows = _rows(selected)
        out_mag[rows], out_err[rows] = _with_colour(recipe, rows, mags, errs, slope_floor)
        pending &= ~selected
    for recipe in recipes:
        selected = pending & measured[recipe.base]
        rows = _rows(selected)
        out_mag[rows], out_err[rows] = _with_prior(recipe, mags[recipe.base][rows], errs[recipe.base][rows])
        pending &= ~selected
    return out_mag, out_err


Rows = slice | NDArray[np.intp]


def _rows(selected: NDArray[np.bool_]) -> Rows:
    """The selected rows as an index array, or a slice (a view, no copy) in the common all-rows case."""
    return slice(None) if selected.all() else np.flatnonzero(selected)


def _with_colour(
    recipe: ColourTransform,
    rows: Rows,
    mags: dict[str, FloatArray],
    errs: dict[str, FloatArray],
    slope_floor: float,
) -> tuple[FloatArray, FloatArray]:
    """Prediction from a measured colour, clipped to the validity range (error inflated beyond it)."""
    base = mags[recipe.base][rows]
    colour = mags[recipe.first][rows] - mags[recipe.second][rows]
    clipped = np.clip(colour, recipe.lo, recipe.hi)
    offset, slope = recipe.offset_and_slope(clipped)
    variance = _propagated_variance(recipe, slope, errs, rows)
    variance += recipe.sigma**2
    variance += np.square((colour - clipped) * np.maximum(np.abs(slope), slope_floor))
    return base + offset, np.sqrt(variance)


def _propagated_variance(
    recipe: ColourTransform, slope: FloatArray, errs: dict[str, FloatArray], rows: Rows
) -> FloatArray:
    """Variance of m_base + P(m_first - m_second) from catalogue errors (the base may be in the colour)."""
    err_first, err_second = errs[recipe.first][rows], errs[recipe.second][rows]
    if recipe.base == recipe.first:
        return np.square((1.0 + slope) * err_first) + np.square(slope * err_second)
    if recipe.base == recipe.second:
        return np.square(slope * err_first) + np.square((1.0 - slope) * err_second)
    variance: FloatArray = np.square(errs[recipe.base][rows]) + np.square(slope) * (
        np.square(err_first) + np.square(err_second)
    )
    return variance


def _with_prior(
    recipe: ColourTransform, base: FloatArray, base_err: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Prediction from the base band alone, assuming a typical star colour (spread added to the error)."""
    offset, slope = recipe.offset_and_slope(recipe.prior)
    error = np.sqrt(np.square(base_err) + (slope * recipe.prior_sigma) ** 2 + recipe.sigma**2)
    return base + offset, error
