"""The independent photometric truth: it must NOT collapse into the pipeline's colour transforms."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table
from expect import table_of
from paths import SDSS_FILE

from vtac.adapters.catalog_file import read_catalog_file
from vtac.core.photometry import predict_vt
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.errors import InputError
from vtac.simulation.truth import (
    GRID_A,
    SDSS_PIVOT_A,
    sed_grid,
    survey_catalog,
    synthetic_mags,
    true_vt_sky,
)


def _mad(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(1.4826 * np.median(np.abs(values - np.median(values))))


@pytest.fixture(scope="module")
def answer() -> CatalogAnswer:
    return read_catalog_file("SDSS12", SDSS_FILE)


@pytest.fixture(scope="module")
def truth(answer) -> Table:
    return true_vt_sky(answer, np.random.default_rng(11))


@pytest.fixture(scope="module")
def residuals(answer, truth) -> dict[str, np.ndarray]:
    """true VT - the pipeline's prediction from the same SDSS rows, per band, aligned with ``truth``."""
    prediction = predict_vt("SDSS12", answer.table)
    row = {str(key): k for k, key in enumerate(answer.table["ID"])}
    rows = np.array([row[str(key)] for key in truth["ID"]])
    return {
        "R": np.asarray(truth["MAG_R"]) - prediction.mag_r[rows],
        "B": np.asarray(truth["MAG_B"]) - prediction.mag_b[rows],
    }


def _stars(truth: Table, lo: float, hi: float) -> np.ndarray:
    colour = np.asarray(truth["G_MINUS_I"])
    with np.errstate(invalid="ignore"):
        return (
            ~np.asarray(truth["EXTENDED"])
            & (colour >= lo)
            & (colour < hi)
            & (np.asarray(truth["SDSS_MAG_r"]) < 20.0)
        )


@pytest.mark.parametrize("band", ["R", "B"])
def test_blue_and_solar_stars_agree_with_the_pipeline_transforms(truth, residuals, band):
    blue = _stars(truth, -1.0, 1.2)
    assert blue.sum() > 300
    assert abs(np.nanmedian(residuals[band][blue])) < 0.05
    assert _mad(residuals[band][blue]) < 0.05


@pytest.mark.parametrize(("band", "lo", "hi"), [("R", 0.12, 0.3), ("B", 0.18, 0.4)])
def test_red_stars_carry_a_real_transform_error_the_pipeline_does_not_model(truth, residuals, band, lo, hi):
    """M dwarfs (g - i > 2): true VT differs from the transforms star by star by 0.15-0.35 mag."""
    red = _stars(truth, 2.0, 3.5)
    assert red.sum() > 100
    assert lo < _mad(residuals[band][red]) < hi
    assert np.mean(np.abs(residuals[band][red]) > 0.1) > 0.3


def test_sed_interpolation_reproduces_a_blackbody_without_any_transform():
    """Independent method check: a 5000 K blackbody sampled at the SDSS pivots gives its exact VT mags."""
    nu = 2.998e18 / GRID_A
    exact = -2.5 * np.log10(nu**3 / np.expm1(6.626e-27 * nu / (1.381e-16 * 5000.0)))
    pivots = np.interp(SDSS_PIVOT_A, GRID_A, exact)
    exact_vt = synthetic_mags(exact[None, :], ("VT_R", "VT_B"))
    interpolated = synthetic_mags(sed_grid(pivots[None, :]), ("VT_R", "VT_B"))
    for band in ("VT_R", "VT_B"):
        assert interpolated[band][0] == pytest.approx(exact_vt[band][0], abs=0.03)


def test_truth_has_the_simulation_layout_galaxies_extended_and_is_seeded(answer, truth):
    assert {"ID", "RA", "DEC", "MAG_R", "MAG_B", "EXTENDED"} <= set(truth.colnames)
    assert len(truth) == len(answer.table)
    assert np.array_equal(np.asarray(truth["EXTENDED"]), np.asarray(truth["CLASS"]) == 3)
    again = true_vt_sky(answer, np.random.default_rng(11))
    other = true_vt_sky(answer, np.random.default_rng(12))
    assert np.array_equal(np.asarray(again["MAG_B"]), np.asarray(truth["MAG_B"]), equal_nan=True)
    assert not np.array_equal(np.asarray(other["MAG_B"]), np.asarray(truth["MAG_B"]), equal_nan=True)


def test_truth_needs_a_usable_sdss_answer():
    with pytest.raises(InputError, match="SDSS12"):
        true_vt_sky(CatalogAnswer("GAIADR3", CatalogStatus.OK, Table()), np.random.default_rng(1))


def _aligned(truth: Table, answer: CatalogAnswer) -> np.ndarray:
    row = {str(key): k for k, key in enumerate(truth["ID"])}
    return np.array([row[str(key)] for key in table_of(answer)["ID"]])


@pytest.mark.parametrize(("survey", "band", "depth"), [("GAIADR3", "G", 20.8), ("PS1DR1", "r", 21.8)])
def test_surveys_stop_at_their_depth_and_their_photometry_predicts_the_truth(truth, survey, band, depth):
    answer = survey_catalog(truth, survey, np.random.default_rng(3))
    assert answer.usable and answer.name == survey
    table = table_of(answer)
    mags = np.asarray(table[f"MAG_{band}"], float)
    assert np.nanpercentile(mags, 99) < depth + 0.6
    assert 0.05 * len(truth) < len(table) < 0.6 * len(truth)
    rows = _aligned(truth, answer)
    prediction = predict_vt(survey, table)
    blue = _stars(truth, -1.0, 1.2)[rows] & (np.asarray(truth["MAG_R"])[rows] < 19.0)
    for true, predicted in (("MAG_R", prediction.mag_r), ("MAG_B", prediction.mag_b)):
        assert abs(np.nanmedian(np.asarray(truth[true])[rows][blue] - predicted[blue])) < 0.08


def test_a_shallower_depth_keeps_fewer_sources(truth):
    deep = survey_catalog(truth, "GAIADR3", np.random.default_rng(3))
    shallow = survey_catalog(truth, "GAIADR3", np.random.default_rng(3), depth=19.0)
    assert shallow.n_sources < 0.6 * deep.n_sources
    assert np.nanmax(np.asarray(table_of(shallow)["MAG_G"], float)) < 20.0


def test_usno_b1_has_two_noisy_photographic_epochs_and_no_errors(truth):
    answer = survey_catalog(truth, "USNOB1", np.random.default_rng(4))
    table = table_of(answer)
    assert {"MAG_B1", "MAG_B2", "MAG_R1", "MAG_R2", "MAG_I"} <= set(table.colnames)
    assert np.all(np.isnan(np.asarray(table["ERR_R1"], float)))
    difference = np.asarray(table["MAG_R1"], float) - np.asarray(table["MAG_R2"], float)
    assert 0.3 < np.nanstd(difference) < 0.45  # 0.25 mag per plate
    assert np.nanpercentile(np.asarray(table["MAG_R1"], float), 95) < 21.0


def test_sdss_answer_is_the_real_rows(answer, truth):
    sdss = survey_catalog(truth, "SDSS12", np.random.default_rng(5))
    table = table_of(sdss)
    assert len(table) == len(answer.table)
    assert np.array_equal(np.asarray(table["MAG_r"]), np.asarray(answer.table["MAG_r"]), equal_nan=True)


def test_unknown_survey_is_refused(truth):
    with pytest.raises(InputError, match="LSDR10"):
        survey_catalog(truth, "LSDR10", np.random.default_rng(5))
