"""The evaluation's scenarios and the simulator fixes of issue 8 (X-ray circle, pole, galaxy colours)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.table import Table

from vtac.simulation import burst as burst_module
from vtac.simulation.burst import (
    AfterglowSpec,
    BurstSpec,
    DetectorModel,
    FieldGeometry,
    offset_position,
    simulate_burst,
    xray_circle,
)
from vtac.simulation.scenarios import (
    AFTERGLOW_FAMILIES,
    DARK_FAMILIES,
    PERTURBATIONS,
    Perturbation,
    Scenario,
    generate_scenarios,
)
from vtac.simulation.sky import DEMO_CENTRE, load_demo_sky


def _separation_arcsec(ra1, dec1, ra2, dec2) -> np.ndarray:
    return np.asarray(SkyCoord(ra1, dec1, unit="deg").separation(SkyCoord(ra2, dec2, unit="deg")).arcsec)


@pytest.fixture(scope="module")
def scenarios() -> list[Scenario]:
    return list(generate_scenarios(5, n_afterglow=len(AFTERGLOW_FAMILIES), n_dark=len(DARK_FAMILIES)))


def _by_family(scenarios: list[Scenario], family: str, has_afterglow: bool = True) -> Scenario:
    return next(s for s in scenarios if s.family == family and s.has_afterglow == has_afterglow)


def _afterglow_rows(scenario: Scenario) -> dict[str, Table]:
    return {
        seq: scenario.burst.tables[seq][scenario.burst.tables[seq]["OBJID"] == objid]
        for seq, objid in scenario.burst.truth.objids.get("afterglow", {}).items()
    }


def test_every_family_is_generated_with_unique_names_and_rotating_catalogues(scenarios):
    assert {s.family for s in scenarios if s.has_afterglow} == set(AFTERGLOW_FAMILIES)
    assert {s.family for s in scenarios if not s.has_afterglow} == set(DARK_FAMILIES)
    assert sum(not s.has_afterglow for s in scenarios) == len(DARK_FAMILIES)
    assert len({s.name for s in scenarios}) == len(scenarios)
    assert {s.catalog_label for s in scenarios} == {"SDSS12", "GAIADR3", "PS1DR1", "USNOB1"}
    for scenario in scenarios:
        assert [answer.name for answer in scenario.catalogs] == [scenario.catalog_label]
        assert scenario.burst.mxt is not None
        assert (scenario.burst.truth.afterglow is not None) == scenario.has_afterglow


def test_the_same_seed_gives_the_same_scenarios(scenarios):
    again = next(generate_scenarios(5, n_afterglow=1, n_dark=0))
    assert again.name == scenarios[0].name
    assert np.array_equal(
        np.asarray(again.burst.tables["R0"]["RA"]), np.asarray(scenarios[0].burst.tables["R0"]["RA"])
    )


def test_saturated_afterglow_is_flagged_4_in_every_sequence(scenarios):
    rows = _afterglow_rows(_by_family(scenarios, "saturated"))
    assert len(rows) == 8
    assert all(int(row["EFLAG"][0]) & 4 for row in rows.values())


def test_vt_r_only_afterglow_has_no_vt_b_detection(scenarios):
    rows = _afterglow_rows(_by_family(scenarios, "r_only"))
    assert rows and all(seq.startswith("R") for seq in rows)


def test_seen_once_afterglow_is_detected_in_the_first_sequence_only(scenarios):
    rows = _afterglow_rows(_by_family(scenarios, "seen_once"))
    assert rows and {seq[1] for seq in rows} == {"0"}


def test_rising_afterglow_brightens(scenarios):
    scenario = _by_family(scenarios, "rising")
    glow = scenario.burst.truth.afterglow
    assert glow is not None
    assert glow.alpha < 0
    assert scenario.burst.truth.mags["R3"] < scenario.burst.truth.mags["R0"]


def test_outside_r90_afterglow_lies_outside_its_circle(scenarios):
    scenario = _by_family(scenarios, "outside_r90")
    glow, mxt = scenario.burst.truth.afterglow, scenario.burst.mxt
    assert glow is not None and mxt is not None
    assert _separation_arcsec(glow.ra, glow.dec, mxt.ra, mxt.dec) > mxt.r90_arcsec


def test_host_blend_afterglow_sits_on_a_faint_source_and_is_detected_blended(scenarios):
    scenario = _by_family(scenarios, "host_blend")
    glow = scenario.burst.truth.afterglow
    table = scenario.catalogs[0].table
    assert glow is not None and table is not None
    nearest = _separation_arcsec(glow.ra, glow.dec, table["RA"], table["DEC"]).min()
    assert nearest < 1.0
    assert len(_afterglow_rows(scenario)) >= 6


@pytest.mark.parametrize("has_afterglow", [True, False])
def test_red_star_trap_is_catalogued_inside_the_circle(scenarios, has_afterglow):
    scenario = _by_family(scenarios, "red_star", has_afterglow)
    ra, dec = scenario.traps["red_star"]
    mxt = scenario.burst.mxt
    assert mxt is not None
    assert _separation_arcsec(ra, dec, mxt.ra, mxt.dec) < mxt.r90_arcsec
    table = scenario.catalogs[0].table
    assert table is not None
    assert _separation_arcsec(ra, dec, table["RA"], table["DEC"]).min() < 0.01


@pytest.mark.parametrize("has_afterglow", [True, False])
def test_asteroid_is_one_detection_per_sequence_index_at_moving_positions(scenarios, has_afterglow):
    scenario = _by_family(scenarios, "asteroid", has_afterglow)
    objids = scenario.burst.truth.objids["asteroid"]
    assert {seq[0] for seq in objids} == {"R", "B"} and len(objids) >= 6
    position = {}
    for seq, objid in objids.items():
        row = scenario.burst.tables[seq][scenario.burst.tables[seq]["OBJID"] == objid]
        position[seq] = (float(row["RA"][0]), float(row["DEC"][0]))
    first, last = min(objids), max(objids, key=lambda seq: (seq[0] == "R", seq[1]))
    hours = (
        burst_module.DEFAULT_PLAN[int(last[1])].mid_s - burst_module.DEFAULT_PLAN[int(first[1])].mid_s
    ) / 3600
    moved = _separation_arcsec(*position[first], *position[last])
    if first[1] != last[1]:
        assert 15.0 * hours < moved < 45.0 * hours


@pytest.mark.parametrize("has_afterglow", [True, False])
def test_crowded_field_has_0_04_to_0_12_stars_per_arcsec2_in_truth_and_catalogue(scenarios, has_afterglow):
    scenario = _by_family(scenarios, "crowded", has_afterglow)
    side = 2 * 60.0 * 2.0
    assert len(scenario.burst.tables["R0"]) > 0.02 * side * side
    if scenario.catalog_label in ("SDSS12", "PS1DR1"):
        assert scenario.catalogs[0].n_sources > 0.005 * side * side  # ~70 without the crowd


def test_dark_field_circle_lies_anywhere_in_the_field(scenarios):
    scenario = _by_family(scenarios, "dark", False)
    assert "afterglow" not in scenario.burst.truth.objids
    tables = scenario.burst.tables["R0"]
    mxt = scenario.burst.mxt
    assert mxt is not None
    assert min(tables["RA"]) <= mxt.ra <= max(tables["RA"])


def test_unconditioned_xray_circle_misses_the_source_one_time_in_ten():
    rng = np.random.default_rng(8)
    circles = [xray_circle(120.0, 30.0, 60.0, rng) for _ in range(4000)]
    inside = _separation_arcsec(120.0, 30.0, [c.ra for c in circles], [c.dec for c in circles]) < 60.0
    assert 0.88 < inside.mean() < 0.92
    conditioned = [xray_circle(120.0, 30.0, 60.0, rng, conditioned=True) for _ in range(500)]
    assert np.all(
        _separation_arcsec(120.0, 30.0, [c.ra for c in conditioned], [c.dec for c in conditioned]) < 60.0
    )


@pytest.mark.parametrize("offset", [1.0, 60.0, 300.0, 600.0])
@pytest.mark.parametrize("angle", [0.0, 45.0, 90.0, 200.0, 270.0])
def test_offsets_are_spherical_even_at_the_pole(offset, angle):
    """At Dec 89.9 a 300" step east by RA += offset / cos(dec) lands 8" short; the great circle does not."""
    ra, dec = offset_position(10.0, 89.9, offset, angle)
    assert _separation_arcsec(10.0, 89.9, ra, dec) == pytest.approx(offset, abs=1e-6)


def test_mxt_circle_and_proper_motion_hold_at_the_pole():
    sky = Table(
        {
            "RA": [10.0, 10.0],
            "DEC": [89.9, 89.95],
            "MAG_R": [17.0, 17.5],
            "MAG_B": [17.5, 18.0],
            "PMRA": [0.0, 3000.0],
            "PMDEC": [0.0, 0.0],
            "EPOCH": [2000.0, 2000.0],
        }
    )
    glow = AfterglowSpec(10.0, 89.9 + 30 / 3600, 18.0)
    spec = BurstSpec(10.0, 89.9, half_width_arcmin=4.0, afterglow=glow, mxt_r90_arcsec=60.0)
    detector = DetectorModel(faint_galaxies=False, artefacts_per_sequence=0.0)
    burst = simulate_burst(
        sky, BurstSpec(**{**spec.__dict__, "detector": detector}), np.random.default_rng(2)
    )
    mxt = burst.mxt
    assert mxt is not None
    assert _separation_arcsec(glow.ra, glow.dec, mxt.ra, mxt.dec) < 60.0
    years = burst_module._julian_year(burst_module._parse_time(spec.t0)) - 2000.0
    moved_to = offset_position(10.0, 89.95, 3.0 * years, 90.0)
    table = burst.tables["R0"]
    assert _separation_arcsec(*moved_to, table["RA"], table["DEC"]).min() < 1.0


def test_added_faint_galaxies_take_real_galaxy_colours_not_a_blue_population():
    """Issue 8: colours resampled from all faint sources gave some galaxies B - R ~ -1, seen in VT_B only."""
    geometry = FieldGeometry(*DEMO_CENTRE, 13 * 60.0)
    sources = burst_module._sky_sources(load_demo_sky(), geometry, 2026.0)
    galaxies = burst_module._faint_galaxies(
        sources, geometry, 24.0, np.random.default_rng(1), DetectorModel()
    )
    colour = galaxies.mags["B"][:, 0] - galaxies.mags["R"][:, 0]
    assert len(colour) > 5000
    assert np.all(colour >= -0.5)
    catalogued = sources.extended & (sources.mags["R"][:, 0] > 20.0) & (sources.mags["R"][:, 0] < 21.5)
    reference = np.nanmedian(sources.mags["B"][catalogued, 0] - sources.mags["R"][catalogued, 0])
    assert abs(np.median(colour) - reference) < 0.2
    assert math.isfinite(reference)


#: What each robustness setting may move in the detector, and nothing else.
_PERTURBED_FIELDS = {
    "width_factor": {"completeness_width_mag"},
    "offset_shift_mag": {"completeness_offset_mag"},
    "artefact_factor": {"artefacts_per_sequence", "cosmic_rays_per_sequence", "hot_pixels_per_camera"},
    "noise_factor": {"noise_scale"},
    "dropout_fraction": {"dropout_fraction"},
    "faint_counts_factor": {"faint_counts_factor"},
}


@pytest.mark.parametrize("perturbation", PERTURBATIONS, ids=lambda p: p.name)
def test_each_robustness_setting_moves_its_own_assumption_only(perturbation):
    """A robustness row of make evaluate is read as "this assumption moved": no other may move with it."""
    default = Perturbation().detector(np.random.default_rng(3))
    moved = perturbation.detector(np.random.default_rng(3))
    changed = {
        field.name
        for field in dataclasses.fields(default)
        if getattr(moved, field.name) != getattr(default, field.name)
    }
    settings = {
        field.name
        for field in dataclasses.fields(Perturbation)
        if field.name != "name" and getattr(perturbation, field.name) != field.default
    }
    assert len(settings) == 1
    assert changed and changed <= _PERTURBED_FIELDS[settings.pop()]
