"""Catalogue -> VT colour transforms, checked against synthetic photometry computed here independently of
``tools/derive_transforms.py`` (own integrator on a 1 Angstrom grid) from the curves shipped in the package.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.table import MaskedColumn, Table
from paths import REPO

import vtac
from vtac.core.photometry import CATALOG_BANDS, load_transforms, predict_vt
from vtac.errors import ConfigurationError

BANDPASSES = Path(vtac.__file__).parent / "data" / "bandpasses"
CURVES = {
    "VT": {"VT_R": "svom_vt/VT_R.dat", "VT_B": "svom_vt/VT_B.dat"},
    "PS1DR1": {band: f"panstarrs/panstarrs-{band}.ecsv" for band in "grizy"},
    "SDSS12": {band: f"sdss/sdss2010-{band}.ecsv" for band in "griz"},
    "LSDR10": {band: f"decam/decam2014-{band}.ecsv" for band in "griz"},
    "GAIADR3": {band: f"gaia/gaiadr3-{band}.ecsv" for band in ("G", "BP", "RP")},
}
#: What the surveys publish, relative to AB: Gaia is Vega (Riello et al. 2021), SDSS z is AB - 0.02.
PUBLISHED_MINUS_AB = {"GAIADR3": {"G": -0.1136, "BP": -0.0155, "RP": -0.3561}, "SDSS12": {"z": -0.02}}
GRID = np.arange(3000.0, 11600.0, 1.0)
AB_CATALOGS = ("PS1DR1", "SDSS12", "LSDR10", "GAIADR3")
#: Spectra absent from the training grid (blackbody temperatures in K, power-law indices).
HELD_OUT_TEMPERATURES = (3300.0, 4400.0, 5800.0, 7700.0, 11000.0, 16000.0, 24000.0)
HELD_OUT_BETAS = (0.25, 0.6, 1.3)


@functools.cache
def weight(relative_path: str) -> np.ndarray:
    """Photon-counting weight T(lambda)/lambda of one curve on GRID."""
    path = BANDPASSES / relative_path
    if path.suffix == ".dat":
        wave, response = np.loadtxt(path, comments="#", unpack=True)
    else:
        table = Table.read(path, format="ascii.ecsv")
        scale = 10.0 if str(table["wavelength"].unit) == "nm" else 1.0
        wave, response = np.asarray(table["wavelength"]) * scale, np.asarray(table["response"])
    return np.interp(GRID, wave, response, left=0.0, right=0.0) / GRID


def ab_mag(fnu: np.ndarray, relative_path: str) -> float:
    w = weight(relative_path)
    return float(-2.5 * np.log10(np.sum(fnu * w) / np.sum(w)) + 20.0)


def blackbody(temperature: float) -> np.ndarray:
    """Planck f_nu, normalised to 1 at 6000 Angstrom (magnitudes near 20)."""
    nu = 2.99792458e18 / GRID
    fnu = nu**3 / np.expm1(4.799243e-11 * nu / temperature)
    return np.asarray(fnu / np.interp(6000.0, GRID, fnu))


def power_law(beta: float) -> np.ndarray:
    return np.asarray((GRID / 5500.0) ** beta)


def held_out_spectra() -> list[np.ndarray]:
    return [blackbody(t) for t in HELD_OUT_TEMPERATURES] + [power_law(b) for b in HELD_OUT_BETAS]


def synthetic(fnu: np.ndarray, system: str) -> dict[str, float]:
    """AB magnitudes of one spectrum in one system (USNOB1: Lupton 2005 B, R, I from SDSS)."""
    if system == "USNOB1":
        g, r, i, z = (synthetic(fnu, "SDSS12")[band] for band in "griz")
        return {
            "B": g + 0.3130 * (g - r) + 0.2271,
            "R": r - 0.2936 * (r - i) - 0.1439,
            "I": i - 0.3780 * (i - z) - 0.3974,
        }
    return {band: ab_mag(fnu, path) for band, path in CURVES[system].items()}


def catalogue_table(catalog: str, spectra: list[np.ndarray], err: float = 1e-4) -> Table:
    """The table a provider would give for these spectra: published magnitude systems, tiny errors."""
    rows = [synthetic(fnu, catalog) for fnu in spectra]
    table = Table()
    offsets = PUBLISHED_MINUS_AB.get(catalog, {})
    for band in rows[0]:
        values = np.array([row[band] for row in rows]) + offsets.get(band, 0.0)
        names = ("B1", "B2") if band == "B" else ("R1", "R2") if band == "R" else (band,)
        for name in names:
            table[f"MAG_{name}"] = values
            table[f"ERR_{name}"] = np.full(len(rows), err)
    return table


def vt_truth(spectra: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    rows = [synthetic(fnu, "VT") for fnu in spectra]
    return np.array([row["VT_R"] for row in rows]), np.array([row["VT_B"] for row in rows])


def one_row(**mags: float) -> Table:
    """A one-row table with the given magnitudes (errors 0.02); other bands absent."""
    table = Table()
    for band, value in mags.items():
        table[f"MAG_{band}"] = [value]
        table[f"ERR_{band}"] = [0.02]
    return table


# --- accuracy --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("catalog", AB_CATALOGS)
def test_flat_spectrum_gives_the_catalogue_magnitude_in_both_vt_bands(catalog):
    prediction = predict_vt(catalog, catalogue_table(catalog, [power_law(0.0)]))
    assert prediction.mag_r[0] == pytest.approx(20.0, abs=0.05)
    assert prediction.mag_b[0] == pytest.approx(20.0, abs=0.05)


@pytest.mark.parametrize("catalog", [*AB_CATALOGS, "USNOB1"])
def test_held_out_spectra_are_predicted_within_the_quoted_error(catalog):
    spectra = held_out_spectra()
    truth_r, truth_b = vt_truth(spectra)
    prediction = predict_vt(catalog, catalogue_table(catalog, spectra))
    assert np.all(np.abs(prediction.mag_r - truth_r) <= prediction.err_r)
    assert np.all(np.abs(prediction.mag_b - truth_b) <= prediction.err_b)
    floor = 0.3 if catalog == "USNOB1" else 0.03
    assert np.all(prediction.err_r >= floor) and np.all(prediction.err_b >= floor)


@pytest.mark.parametrize("catalog", AB_CATALOGS)
def test_every_recipe_reproduces_held_out_synthetic_photometry_within_its_scatter(catalog):
    spectra = held_out_spectra()
    mags = [synthetic(fnu, catalog) for fnu in spectra]
    truth = dict(zip(("VT_R", "VT_B"), vt_truth(spectra), strict=True))
    for vt_band, recipes in load_transforms()[catalog].recipes.items():
        for recipe in recipes:
            base = np.array([m[recipe.base] for m in mags])
            colour = np.array([m[recipe.first] - m[recipe.second] for m in mags])
            inside = (colour >= recipe.lo) & (colour <= recipe.hi)
            residual = (base + recipe.offset_and_slope(colour)[0] - truth[vt_band])[inside]
            assert inside.sum() >= 6, recipe
            assert np.sqrt(np.mean(residual**2)) <= recipe.sigma, recipe
            assert np.max(np.abs(residual)) <= 3 * recipe.sigma, recipe


@pytest.mark.parametrize("catalog", ["PS1DR1", "GAIADR3", "USNOB1"])
def test_a_red_star_is_redder_in_vt_than_a_blue_one(catalog):
    prediction = predict_vt(catalog, catalogue_table(catalog, [blackbody(3500.0), blackbody(12000.0)]))
    colour = prediction.mag_b - prediction.mag_r
    assert colour[0] > 0.5
    assert colour[0] > colour[1] + 1.0


# --- fallbacks and missing data ----------------------------------------------------------------------------


def test_missing_colour_falls_back_to_a_typical_star_with_a_larger_error():
    star = catalogue_table("PS1DR1", [blackbody(5000.0)])
    g_only = one_row(g=float(star["MAG_g"][0]))
    full, fallback = predict_vt("PS1DR1", star), predict_vt("PS1DR1", g_only)
    for mag, err in ((fallback.mag_r, fallback.err_r), (fallback.mag_b, fallback.err_b)):
        assert np.isfinite(mag[0]) and np.isfinite(err[0])
    assert fallback.err_b[0] > full.err_b[0] + 0.1
    assert fallback.err_r[0] > full.err_r[0] + 0.3
    assert abs(fallback.mag_b[0] - full.mag_b[0]) < fallback.err_b[0]


@pytest.mark.parametrize(
    ("catalog", "missing", "vt_band", "worse"),
    [
        ("SDSS12", "g", "b", True),
        ("LSDR10", "g", "b", True),
        ("PS1DR1", "r", "b", True),
        ("PS1DR1", "i", "r", False),  # z and r-z predict VT_R as well as i and r-i do
        ("GAIADR3", "BP", "r", True),
        ("GAIADR3", "RP", "b", False),  # G and BP-G: as good as G and BP-RP
    ],
)
def test_missing_band_uses_a_neighbouring_one_and_stays_right(catalog, missing, vt_band, worse):
    spectra = [blackbody(4500.0), power_law(0.8)]
    table = catalogue_table(catalog, spectra, err=0.02)
    full = predict_vt(catalog, table)
    table[f"MAG_{missing}"] = np.nan
    degraded = predict_vt(catalog, table)
    truth = dict(zip("rb", vt_truth(spectra), strict=True))[vt_band]
    mag, err = getattr(degraded, f"mag_{vt_band}"), getattr(degraded, f"err_{vt_band}")
    assert np.all(np.isfinite(mag))
    assert np.all(np.abs(mag - truth) <= err)
    assert np.all(err > getattr(full, f"err_{vt_band}")) == worse


def test_rows_without_any_magnitude_get_nan():
    table = catalogue_table("PS1DR1", [blackbody(6000.0)] * 2)
    for band in "grizy":
        table[f"MAG_{band}"][1] = np.nan
    prediction = predict_vt("PS1DR1", table)
    assert np.isfinite(prediction.mag_r[0]) and np.isfinite(prediction.mag_b[0])
    for values in (prediction.mag_r, prediction.err_r, prediction.mag_b, prediction.err_b):
        assert np.isnan(values[1])


def test_sentinels_masks_and_absent_columns_all_count_as_missing():
    reference = predict_vt("SDSS12", one_row(g=19.0, r=18.5))
    sentinel = one_row(g=19.0, r=18.5, i=99.0, z=-999.0)
    masked = one_row(g=19.0, r=18.5)
    masked["MAG_i"] = MaskedColumn([17.0], mask=[True])
    for table in (sentinel, masked):
        prediction = predict_vt("SDSS12", table)
        assert prediction.mag_r[0] == pytest.approx(reference.mag_r[0])
        assert prediction.err_b[0] == pytest.approx(reference.err_b[0])


def test_missing_errors_count_as_the_default_error():
    stated = one_row(g=19.0, r=18.5)
    stated["ERR_g"], stated["ERR_r"] = [0.1], [0.1]
    unstated = one_row(g=19.0, r=18.5)
    unstated["ERR_g"], unstated["ERR_r"] = [np.nan], [0.0]
    assert predict_vt("PS1DR1", unstated).err_b[0] == pytest.approx(predict_vt("PS1DR1", stated).err_b[0])


def test_catalogue_errors_are_propagated():
    precise, noisy = one_row(g=19.0, r=18.5), one_row(g=19.0, r=18.5)
    noisy["ERR_g"] = [0.2]
    # VT_B = g + P(g-r) with P' ~ -0.45 here: dVT_B/dg ~ 0.55, so 0.2 mag on g adds ~0.11 mag.
    assert predict_vt("PS1DR1", noisy).err_b[0] == pytest.approx(0.12, abs=0.02)
    assert predict_vt("PS1DR1", precise).err_b[0] < 0.04


def test_colour_outside_the_validity_range_is_clipped_with_a_larger_error():
    recipe = load_transforms()["PS1DR1"].recipes["VT_R"][0]
    at_edge = predict_vt("PS1DR1", one_row(r=18.0 + recipe.hi, i=18.0))
    beyond = predict_vt("PS1DR1", one_row(r=18.0 + recipe.hi + 1.0, i=18.0))
    assert beyond.mag_r[0] == pytest.approx(at_edge.mag_r[0])
    assert beyond.err_r[0] > at_edge.err_r[0] + 0.09


# --- USNO-B1 epochs -------------------------------------------------------------------------------------


def test_usno_epochs_are_averaged_when_both_exist():
    two_epochs = predict_vt("USNOB1", one_row(B1=18.0, B2=18.4, R1=17.0, R2=17.2))
    mean_epoch = predict_vt("USNOB1", one_row(B1=18.2, R1=17.1))
    assert two_epochs.mag_b[0] == pytest.approx(mean_epoch.mag_b[0])
    assert two_epochs.mag_r[0] == pytest.approx(mean_epoch.mag_r[0])
    assert two_epochs.err_b[0] < mean_epoch.err_b[0]


def test_usno_single_second_epoch_is_used_as_is():
    second_only = predict_vt("USNOB1", one_row(B2=18.4, R2=17.2))
    first_only = predict_vt("USNOB1", one_row(B1=18.4, R1=17.2))
    assert second_only.mag_b[0] == pytest.approx(first_only.mag_b[0])
    assert second_only.err_r[0] == pytest.approx(first_only.err_r[0])
    assert np.isfinite(predict_vt("USNOB1", one_row(I=16.5)).mag_r[0])


# --- contract --------------------------------------------------------------------------------------------


def test_unknown_catalogue_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="2MASS"):
        predict_vt("2MASS", one_row(J=15.0))


def test_every_catalogue_has_transforms_whose_bands_it_provides():
    transforms = load_transforms()
    assert set(transforms) == set(CATALOG_BANDS)
    for name, catalog in transforms.items():
        bands = {"B", "R", "I"} if name == "USNOB1" else set(CATALOG_BANDS[name])
        for recipes in catalog.recipes.values():
            for recipe in recipes:
                assert {recipe.base, recipe.first, recipe.second} <= bands
                assert recipe.lo < recipe.hi and recipe.sigma > 0


def test_empty_table_gives_empty_arrays():
    prediction = predict_vt("LSDR10", Table({"MAG_g": np.array([], float), "ERR_g": np.array([], float)}))
    assert prediction.mag_r.shape == prediction.err_b.shape == (0,)


def test_committed_transforms_match_the_derivation_tool(monkeypatch):
    pytest.importorskip("speclite")  # the 'tools' extra; absent from a plain dev install
    spec = importlib.util.spec_from_file_location(
        "derive_transforms", REPO / "tools" / "derive_transforms.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "derive_transforms", tool)
    spec.loader.exec_module(tool)
    committed = (REPO / "vtac" / "data" / "vt_transforms.json").read_text(encoding="utf-8")
    assert tool.render(tool.build_document()) == committed


def test_a_configured_transforms_file_replaces_the_packaged_one(tmp_path):
    document = json.loads((Path(vtac.__file__).parent / "data" / "vt_transforms.json").read_text())
    for recipe in document["catalogs"]["SDSS12"]["VT_R"]:
        recipe["coeffs"][0] += 1.0
    custom = tmp_path / "transforms.json"
    custom.write_text(json.dumps(document))
    table = Table({f"MAG_{b}": [18.0] for b in "ugriz"} | {f"ERR_{b}": [0.02] for b in "ugriz"})
    packaged, replaced = predict_vt("SDSS12", table), predict_vt("SDSS12", table, str(custom))
    assert replaced.mag_r[0] == pytest.approx(packaged.mag_r[0] + 1.0)
    assert replaced.mag_b[0] == pytest.approx(packaged.mag_b[0])


@pytest.mark.parametrize("content", [None, '{"catalogs": {"SDSS12": {}}}'])
def test_a_missing_or_malformed_transforms_file_is_a_configuration_error(tmp_path, content):
    path = tmp_path / "transforms.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match="colour transforms file"):
        predict_vt("SDSS12", Table({"MAG_g": [18.0]}), str(path))
