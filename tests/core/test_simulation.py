"""`vtac simulate`: simulated VT source lists on the real SDSS field behave like the VT and round-trip."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
from astropy.table import Table
from fitsverify import fitsverify

from vtac.adapters.mxt import read_qpo_mxt
from vtac.adapters.srclist import read_srclists
from vtac.core.records import CatalogAnswer, CatalogStatus, MxtPosition
from vtac.core.sky import SkyIndex, separation_arcsec
from vtac.entrypoints import cli
from vtac.errors import ConfigurationError, InputError
from vtac.simulation import burst as burst_module
from vtac.simulation.burst import (
    PIXEL_SCALE_ARCSEC,
    AfterglowSpec,
    BurstSpec,
    DetectorModel,
    InjectedSource,
    SequencePlan,
    simulate_burst,
)
from vtac.simulation.injections import artefact, flaring_star, high_proper_motion_star, host_galaxy
from vtac.simulation.sky import (
    DEMO_CATALOG_FILE,
    DEMO_CENTRE,
    AfterglowCase,
    data_path,
    find_case,
    load_gcn_cases,
    parse_duration_s,
    sky_centre,
    sky_from_catalog,
)

RA0, DEC0 = DEMO_CENTRE
VHF_WINDOW_ARCMIN = 461 * PIXEL_SCALE_ARCSEC / 2.0 / 60.0
QUIET = DetectorModel(
    flag_fraction=0.0,
    artefacts_per_sequence=0.0,
    cosmic_rays_per_sequence=0.0,
    hot_pixels_per_camera=0.0,
    faint_galaxies=False,
    edge_flag_fraction=0.0,
)


@pytest.fixture(scope="module")
def glow() -> AfterglowSpec:
    return AfterglowSpec(RA0 + 0.01, DEC0 - 0.01, mag_r=17.0, t_ref_s=600.0, b_minus_r=0.6, alpha=1.2)


@pytest.fixture(scope="module")
def full_field(sky, glow):
    """The default 26' field with a bright afterglow and a 60" MXT circle."""
    return simulate_burst(
        sky, BurstSpec(RA0, DEC0, afterglow=glow, mxt_r90_arcsec=60.0), np.random.default_rng(7)
    )


def _window(sky, seed=1, **changes):
    spec = replace(BurstSpec(RA0, DEC0, half_width_arcmin=VHF_WINDOW_ARCMIN), **changes)
    return simulate_burst(sky, spec, np.random.default_rng(seed))


def _in_field(table, spec_half_arcmin, ra=RA0, dec=DEC0):
    geometry = burst_module.FieldGeometry(ra, dec, spec_half_arcmin * 60.0)
    xi, eta = geometry.project(np.asarray(table["RA"], float), np.asarray(table["DEC"], float))
    return geometry.inside(xi, eta)


def _present(position: MxtPosition | None) -> MxtPosition:
    """An X-ray circle the case at hand has (a dark burst without MXT has none)."""
    assert position is not None
    return position


def _afterglow_rows(burst):
    return {
        seq: burst.tables[seq][burst.tables[seq]["OBJID"] == objid][0]
        for seq, objid in burst.truth.objids["afterglow"].items()
    }


# --- the packaged data --------------------------------------------------------------------------------------


def test_demo_sky_is_the_real_sdss_field_with_vt_magnitudes(sky):
    assert len(sky) == 15083
    assert sky_centre(sky) == pytest.approx(DEMO_CENTRE, abs=0.02)
    assert 0.5 < np.mean(sky["EXTENDED"]) < 0.75  # 9,424 of 15,083 are resolved in SDSS
    r = np.asarray(sky["MAG_R"])
    assert np.nanmin(r) < 15.0 and 21.0 < np.nanmedian(r) < 22.0


def test_gcn_cases_parse_free_text_times_circles_and_redshifts():
    cases = {case.name: case for case in load_gcn_cases()}
    assert len(cases) == 10
    assert cases["GRB 250402A"].t_mid_s == 443.0
    assert cases["GRB 250903A"].t_mid_s == pytest.approx(54.5 * 60)
    assert cases["GRB 260204A"].t_mid_s == pytest.approx(1.23 * 3600)
    assert cases["GRB 250317B"].t_mid_s == pytest.approx(1.6 * 3600)  # "~1.6 h (seq. 3 start 5574 s)"
    assert cases["GRB 250706B"].xray_r90_arcsec == 3.5 and cases["GRB 250402A"].xray_r90_arcsec is None
    assert cases["GRB 250419A"].redshift == 0.845 and cases["GRB 260509A"].redshift is None
    assert cases["GRB 250419A"].burst_id == "sb25041901" and cases["GRB 250419A"].t0 == "2025-04-19T02:29:32"
    assert cases["GRB 250402A"].t0 is None  # "2025-04-02 (see GCN 40014)" is not a time
    assert (cases["GRB 260509A"].vt_R_mag, cases["GRB 260509A"].vt_B_mag) == (19.80, 20.38)


def test_case_lookup_ignores_case_spaces_and_takes_either_alias():
    assert find_case("grb250419a").name == "GRB 250419A"
    assert find_case("EP250512a").name == "GRB 250512B / EP250512a"
    with pytest.raises(ConfigurationError, match="unknown GCN case 'GRB 000000X'"):
        find_case("GRB 000000X")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("443 s", 443.0),
        ("7.23 min", 433.8),
        ("~1.6 h (seq. 3 start 5574 s)", 5760.0),
        ("668 s (peak)", 668.0),
        ("2 days", 172800.0),
        ("", None),
        ("soon", None),
    ],
)
def test_durations_in_free_text(text, seconds):
    assert parse_duration_s(text) == (None if seconds is None else pytest.approx(seconds))


def test_case_table_rows_without_magnitude_or_time_are_skipped(tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text(
        "grb,vt_R_mag,vt_B_mag,vt_tmid,xray_r90_arcsec\nA,19.1,,10 min,5\nB,,20,10 min,\nC,19,20,?,\n"
    )
    (case,) = load_gcn_cases(path)
    assert case.name == "A" and math.isnan(case.vt_B_mag) and case.xray_r90_arcsec == 5.0
    assert case.afterglow(1.0, 2.0).b_minus_r == 0.5  # unknown colour: a typical afterglow's
    (tmp_path / "bad.csv").write_text("name,mag\nA,1\n")
    with pytest.raises(InputError, match="column grb"):
        load_gcn_cases(tmp_path / "bad.csv")
    with pytest.raises(InputError, match="cannot read"):
        load_gcn_cases(tmp_path / "missing.csv")


def test_sky_from_catalog_refuses_an_unusable_answer_and_keeps_class_and_motion():
    with pytest.raises(InputError, match="SDSS12 is not usable"):
        sky_from_catalog(CatalogAnswer("SDSS12", CatalogStatus.FAILED, message="timeout"))
    table = Table(
        {
            "ID": ["a", "b"],
            "RA": [10.0, 10.1],
            "DEC": [0.0, 0.1],
            "MAG_g": [20.0, np.nan],
            "MAG_r": [19.5, np.nan],
            "MAG_i": [19.2, np.nan],
            "PMRA": [1.0, 0.0],
            "PMDEC": [2.0, 0.0],
            "EPOCH": [2016.0, 2016.0],
            "CLASS": [3, 6],
        }
    )
    sky = sky_from_catalog(CatalogAnswer("SDSS12", CatalogStatus.OK, table))
    assert list(sky["ID"]) == ["a"] and bool(sky["EXTENDED"][0]) and sky["PMDEC"][0] == 2.0
    with pytest.raises(InputError, match="empty"):
        sky_centre(sky[:0])


# --- the simulated field ------------------------------------------------------------------------------------


def test_same_seed_same_lists_other_seed_other_lists(sky):
    first, again, other = _window(sky, 5), _window(sky, 5), _window(sky, 6)
    for seq, table in first.tables.items():
        assert np.array_equal(np.asarray(table).tolist(), np.asarray(again.tables[seq]).tolist())
    assert len(first.tables["R0"]) != len(other.tables["R0"]) or not np.allclose(
        first.tables["R0"]["RA"], other.tables["R0"]["RA"]
    )


def test_counts_scale_with_area_and_the_vhf_window_holds_a_few_hundred(sky, full_field):
    window = _window(sky)
    for seq in ("R0", "B0"):
        assert 80 <= len(window.tables[seq]) <= 600
    area_ratio = (13.0 / VHF_WINDOW_ARCMIN) ** 2
    ratio = len(full_field.tables["R0"]) / len(window.tables["R0"])
    assert 0.7 * area_ratio < ratio < 1.4 * area_ratio
    # The VT sees (nearly) every catalogued source brighter than MAGLIM - 1 in the field, and little more.
    maglim = full_field.sequences["R0"].maglim
    bright = (np.asarray(sky["MAG_R"]) < maglim - 1.0) & _in_field(sky, 13.0)
    n_bright = int(np.sum(np.asarray(full_field.tables["R0"]["MAGCAL"]) < maglim - 1.0))
    assert n_bright == pytest.approx(int(bright.sum()), rel=0.1)


def test_sequences_carry_stack_depth_start_time_and_exposure(sky):
    plan = (SequencePlan(120.0, 3), SequencePlan(600.0, 12))
    burst = _window(sky, plan=plan, t0="2025-04-19T02:29:32")
    assert list(burst.tables) == ["R0", "R1", "B0", "B1"]
    assert burst.sequences["R0"].maglim == pytest.approx(22.5 - 1.25 * math.log10(2), abs=1e-3)
    assert burst.sequences["B1"].maglim == pytest.approx(22.5 + 1.25 * math.log10(2), abs=1e-3)
    assert burst.sequences["R1"].date_obs == "2025-04-19T02:39:32.000"
    assert burst.sequences["B0"].exposure_s == 150.0
    assert len(burst.tables["R1"]) > len(burst.tables["R0"])  # the deeper stack sees more


def test_completeness_falls_from_one_to_zero_across_maglim(sky, full_field):
    table, maglim = full_field.tables["R0"], full_field.sequences["R0"].maglim
    inside = _in_field(sky, 12.5)
    truth = sky[inside]
    found = SkyIndex(table["RA"], table["DEC"]).nearest(truth["RA"], truth["DEC"], 1.0)[0] >= 0
    mag = np.asarray(truth["MAG_R"])

    def fraction(lo, hi):
        return found[(mag >= maglim + lo) & (mag < maglim + hi)].mean()

    assert fraction(-4.0, -1.0) > 0.97
    assert 0.25 < fraction(-0.1, 0.1) < 0.75
    assert fraction(0.7, 2.0) < 0.1


def test_magnitudes_of_matched_stars_agree_with_the_sky_within_their_errors(sky, full_field):
    table = full_field.tables["R1"]
    stars = sky[
        ~np.asarray(sky["EXTENDED"]) & (np.asarray(sky["MAG_R"]) > 16) & (np.asarray(sky["MAG_R"]) < 20)
    ]
    index, _ = SkyIndex(table["RA"], table["DEC"]).nearest(stars["RA"], stars["DEC"], 1.0)
    hit = index >= 0
    clean = np.asarray(table["EFLAG"][index[hit]]) == 0
    pulls = ((table["MAGCAL"][index[hit]] - stars["MAG_R"][hit]) / table["MAGERR"][index[hit]])[clean]
    assert len(pulls) > 100
    assert abs(np.median(pulls)) < 0.3
    assert 0.8 < np.std(np.clip(pulls, -5, 5)) < 1.3
    errors = np.asarray(table["MAGERR"])
    faint = np.abs(np.asarray(table["MAGCAL"]) - full_field.sequences["R1"].maglim) < 0.05
    assert np.median(errors[faint]) == pytest.approx(1.0857 / 5, abs=0.04)  # S/N = 5 at MAGLIM


def test_positions_scatter_as_the_vt_astrometry(sky, full_field):
    table = full_field.tables["R0"]
    index, separation = SkyIndex(table["RA"], table["DEC"]).nearest(sky["RA"], sky["DEC"], 2.0)
    bright = (index >= 0) & (np.asarray(sky["MAG_R"]) < 18.0) & ~np.asarray(sky["EXTENDED"])
    # bright stars: sigma = 0.1" per axis, so the median offset is 0.1 * sqrt(2 ln 2) = 0.12"
    assert np.median(separation[bright]) == pytest.approx(0.118, abs=0.03)


def test_near_limit_detections_often_lack_a_catalogue_counterpart(sky, full_field):
    table, maglim = full_field.tables["R0"], full_field.sequences["R0"].maglim
    unmatched = SkyIndex(sky["RA"], sky["DEC"]).nearest(table["RA"], table["DEC"], 2.0)[0] < 0
    mag = np.asarray(table["MAGCAL"])
    assert unmatched[mag > maglim - 0.5].mean() > 0.3
    assert unmatched[mag < maglim - 2.0].mean() < 0.02


def test_objids_are_one_based_and_shuffled_pixels_follow_the_tangent_plane(full_field):
    table = full_field.tables["B2"]
    assert list(table["OBJID"]) == list(range(1, len(table) + 1))
    assert not np.all(np.diff(table["MAGCAL"]) >= 0) and not np.all(np.diff(table["RA"]) >= 0)
    pixel_distance = np.hypot(np.diff(table["X"][:50]), np.diff(table["Y"][:50]))
    sky_distance = separation_arcsec(
        table["RA"][:49], table["DEC"][:49], table["RA"][1:50], table["DEC"][1:50]
    )
    assert np.allclose(pixel_distance * PIXEL_SCALE_ARCSEC, sky_distance, rtol=2e-3)
    east = table["RA"] > RA0
    assert np.all(table["X"][east] < 1027.5)  # east is to the left


def test_few_detections_are_flagged_more_at_the_edges(full_field):
    table = full_field.tables["R0"]
    eflag = np.asarray(table["EFLAG"])
    assert 0.01 < np.mean(eflag > 0) < 0.12
    assert np.all((eflag >= 0) & (eflag < 32))
    edge = (np.minimum(table["X"], table["Y"]) < 20) | (np.maximum(table["X"], table["Y"]) > 2035)
    assert np.mean(eflag[edge] > 0) > 5 * np.mean(eflag[~edge] > 0)
    assert np.all((table["ELLIPTY"] >= 0) & (table["ELLIPTY"] <= 0.95))


def test_saturated_stars_are_dropped_or_flagged():
    star = Table({"RA": [RA0], "DEC": [DEC0], "MAG_R": [9.0], "MAG_B": [9.5]})
    seen = 0
    for seed in range(8):
        burst = simulate_burst(
            star, BurstSpec(RA0, DEC0, half_width_arcmin=1.0, detector=QUIET), np.random.default_rng(seed)
        )
        rows = burst.tables["R0"]
        assert len(rows) <= 1 and all(int(flag) & 4 for flag in rows["EFLAG"])
        seen += len(rows)
    assert 0 < seen < 8


def test_a_detector_that_drops_sources_loses_that_share_of_bright_ones(sky):
    """The robustness set's lists that lose sources at random: bright stars go missing too."""
    spec = BurstSpec(RA0, DEC0, detector=replace(QUIET, dropout_fraction=0.05))
    tidy = simulate_burst(sky, BurstSpec(RA0, DEC0, detector=QUIET), np.random.default_rng(5))
    lossy = simulate_burst(sky, spec, np.random.default_rng(5))
    bright = [int(np.sum(burst.tables["R0"]["MAGCAL"] < 19.0)) for burst in (tidy, lossy)]
    assert bright[1] == pytest.approx(0.95 * bright[0], abs=4 * np.sqrt(0.05 * bright[0]))
    assert bright[1] < bright[0]


def test_a_denser_faint_sky_gives_more_uncatalogued_detections_near_the_limit(sky):
    """The robustness set's "faint sources x2": twice the sources below the catalogue's turnover, so more
    near-limit detections that no catalogue row explains (what a deeper real sky flickers with)."""
    counts = []
    for factor in (1.0, 2.0):
        detector = replace(QUIET, faint_galaxies=True, faint_counts_factor=factor)
        spec = BurstSpec(RA0, DEC0, half_width_arcmin=8.0, detector=detector)
        burst = simulate_burst(sky, spec, np.random.default_rng(11))
        near_limit = np.asarray(burst.tables["R2"]["MAGCAL"]) > burst.sequences["R2"].maglim - 1.0
        counts.append(int(near_limit.sum()))
    assert counts[1] > 1.3 * counts[0] > 0


def test_artefacts_are_flagged_single_sequence_detections_near_the_limit():
    empty = Table({"RA": [0.0], "DEC": [-80.0], "MAG_R": [20.0], "MAG_B": [20.0]})
    noisy = DetectorModel(
        faint_galaxies=False,
        artefacts_per_sequence=20.0,
        cosmic_rays_per_sequence=0.0,
        hot_pixels_per_camera=0.0,
    )
    burst = simulate_burst(empty, BurstSpec(RA0, DEC0, detector=noisy), np.random.default_rng(3))
    for seq, table in burst.tables.items():
        assert len(table) > 5 and np.all(table["EFLAG"] > 0), seq
        assert np.all(table["MAGCAL"] > burst.sequences[seq].maglim - 2.0)


# --- the afterglow and the X-ray circle --------------------------------------------------------------------


def test_afterglow_fades_as_a_power_law_with_its_colour(full_field, glow):
    rows = _afterglow_rows(full_field)
    assert set(rows) == {"R0", "R1", "R2", "R3", "B0", "B1", "B2", "B3"}
    truth = full_field.truth
    for band in "RB":
        for nth in range(1, 4):
            later, earlier = f"{band}{nth}", f"{band}{nth - 1}"
            expected = 2.5 * glow.alpha * math.log10(truth.mid_times_s[later] / truth.mid_times_s[earlier])
            fading = rows[later]["MAGCAL"] - rows[earlier]["MAGCAL"]
            sigma = math.hypot(rows[later]["MAGERR"], rows[earlier]["MAGERR"])
            assert fading == pytest.approx(expected, abs=4 * sigma + 0.01)
    for nth in range(4):
        colour = rows[f"B{nth}"]["MAGCAL"] - rows[f"R{nth}"]["MAGCAL"]
        assert colour == pytest.approx(glow.b_minus_r, abs=0.1)
        assert truth.mags[f"R{nth}"] == pytest.approx(
            glow.mag_at("R", truth.mid_times_s[f"R{nth}"]), abs=1e-3
        )
    assert separation_arcsec(rows["R0"]["RA"], rows["R0"]["DEC"], glow.ra, glow.dec) < 0.5


def test_dark_field_has_no_afterglow(sky):
    dark = _window(sky, mxt_r90_arcsec=40.0)
    assert dark.truth.afterglow is None and dark.truth.mags == {} and "afterglow" not in dark.truth.objids
    assert separation_arcsec(dark.mxt.ra, dark.mxt.dec, RA0, DEC0) <= 40.0
    assert _window(sky).mxt is None


def test_mxt_circle_contains_the_afterglow_and_is_not_centred_on_it(glow):
    spec = BurstSpec(RA0, DEC0, afterglow=glow, mxt_r90_arcsec=30.0)
    circles = [_present(burst_module._mxt_position(spec, np.random.default_rng(seed))) for seed in range(300)]
    separation = separation_arcsec([c.ra for c in circles], [c.dec for c in circles], glow.ra, glow.dec)
    assert np.all(separation <= 30.0)
    # 2-D Gaussian with R90 = 30": median offset 30 * sqrt(ln 2 / ln 10) = 16.5" (truncated: a bit less)
    assert 12.0 < np.median(separation) < 17.0


def test_injected_scenarios(sky, glow):
    stars = sky[
        (np.asarray(sky["MAG_R"]) > 16)
        & (np.asarray(sky["MAG_R"]) < 19)
        & ~np.asarray(sky["EXTENDED"])
        & _in_field(sky, 2.5)
    ]
    star = stars[np.argmin(stars["MAG_R"])]
    flare = flaring_star(star["RA"], star["DEC"], star["MAG_R"], star["MAG_B"], flare_index=2, amplitude=2.0)
    glitch = artefact(RA0 - 0.01, DEC0 + 0.01, seq="B1", mag=21.0, eflag=16)
    faint_glow = AfterglowSpec(RA0, DEC0, mag_r=20.5, t_ref_s=600.0, alpha=1.5)
    burst = _window(
        sky,
        afterglow=faint_glow,
        injected=(flare, glitch, host_galaxy(faint_glow, 21.5, 22.0)),
        detector=QUIET,
    )
    objids = burst.truth.objids
    mags = {
        seq: burst.tables[seq]["MAGCAL"][burst.tables[seq]["OBJID"] == objid][0]
        for seq, objid in objids["flaring_star"].items()
    }
    assert set(mags) == {"R0", "R1", "R2", "R3", "B0", "B1", "B2", "B3"}
    assert mags["R2"] == pytest.approx(star["MAG_R"] - 2.0, abs=0.1) and mags["R1"] == pytest.approx(
        star["MAG_R"], abs=0.1
    )
    assert objids["artefact"] == {"B1": objids["artefact"]["B1"]}
    b1 = burst.tables["B1"]
    assert b1["EFLAG"][b1["OBJID"] == objids["artefact"]["B1"]][0] == 16
    # the afterglow sits on its host: one detection, levelling off at the galaxy's magnitude
    assert objids["host_galaxy"] == objids["afterglow"]
    late = burst.tables["R3"]["MAGCAL"][burst.tables["R3"]["OBJID"] == objids["afterglow"]["R3"]][0]
    assert late < burst.truth.mags["R3"] - 0.5 and late == pytest.approx(21.5, abs=0.3)


def test_high_proper_motion_star_is_seen_where_it_moved_to():
    sky = high_proper_motion_star(
        Table({"RA": [RA0 + 0.02], "DEC": [DEC0], "MAG_R": [18.0], "MAG_B": [18.5]}),
        RA0,
        DEC0,
        16.0,
        16.5,
        pm_mas_yr=(0.0, 4000.0),
        epoch=2000.0,
    )
    assert list(sky["PMDEC"]) == [0.0, 4000.0] and len(sky) == 2
    burst = simulate_burst(
        sky,
        BurstSpec(RA0, DEC0, half_width_arcmin=2.0, t0="2026-01-01T12:00:00", detector=QUIET),
        np.random.default_rng(0),
    )
    table = burst.tables["R0"]
    moved = SkyIndex(table["RA"], table["DEC"]).nearest([RA0], [DEC0 + 26.0 * 4.0 / 3600.0], 1.0)[0]
    assert moved[0] >= 0 and table["MAGCAL"][moved[0]] == pytest.approx(16.0, abs=0.05)
    assert SkyIndex(table["RA"], table["DEC"]).nearest([RA0], [DEC0], 5.0)[0][0] < 0


def test_bad_specs_are_configuration_errors(glow):
    with pytest.raises(ConfigurationError, match="1 to 4 sequences"):
        BurstSpec(RA0, DEC0, plan=())
    with pytest.raises(ConfigurationError, match="at least one frame"):
        BurstSpec(RA0, DEC0, plan=(SequencePlan(60.0, 0),))
    with pytest.raises(ConfigurationError, match="r90"):
        BurstSpec(RA0, DEC0, mxt_r90_arcsec=0.0)
    with pytest.raises(ConfigurationError, match="half-width"):
        BurstSpec(RA0, DEC0, half_width_arcmin=0.0)
    with pytest.raises(ConfigurationError, match="reference time"):
        BurstSpec(RA0, DEC0, afterglow=replace(glow, t_ref_s=0.0))
    with pytest.raises(ConfigurationError, match="not an ISO"):
        BurstSpec(RA0, DEC0, t0="yesterday")
    with pytest.raises(ConfigurationError, match="needs 4 values"):
        InjectedSource("x", RA0, DEC0, (1.0,), (1.0,))
    with pytest.raises(ConfigurationError, match="distinct labels"):
        BurstSpec(RA0, DEC0, injected=(artefact(RA0, DEC0), artefact(RA0, DEC0, seq="B2")))
    with pytest.raises(ConfigurationError, match="far side"):
        simulate_burst(
            Table({"RA": [1.0], "DEC": [1.0], "MAG_R": [1.0], "MAG_B": [1.0]}),
            BurstSpec(RA0, DEC0, afterglow=replace(glow, ra=RA0 - 180.0, dec=-DEC0)),
            np.random.default_rng(0),
        )
    with pytest.raises(InputError, match="column MAG_B"):
        simulate_burst(
            Table({"RA": [1.0], "DEC": [1.0], "MAG_R": [1.0]}), BurstSpec(RA0, DEC0), np.random.default_rng(0)
        )


# --- files and command line ---------------------------------------------------------------------------------


def test_files_round_trip_through_the_readers(sky, glow, tmp_path):
    burst = _window(sky, afterglow=glow, mxt_r90_arcsec=45.0, burst_id="sb25010101")
    paths = burst.write(tmp_path)
    observation = read_srclists([paths["srclist_R"], paths["srclist_B"]])
    assert observation.burst_id == "sb25010101" and observation.n_rejected == 0
    assert observation.sequences == burst.sequences
    for seq, table in burst.tables.items():
        rows = observation.detections[observation.detections["SEQ"] == seq]
        assert len(rows) == len(table)
        assert np.allclose(rows["MAGCAL"], table["MAGCAL"]) and np.array_equal(rows["OBJID"], table["OBJID"])
    mxt, simulated = _present(read_qpo_mxt(paths["mxt"]).position), _present(burst.mxt)
    assert (mxt.ra, mxt.dec, mxt.r90_arcsec) == pytest.approx(
        (simulated.ra, simulated.dec, simulated.r90_arcsec)
    )
    for path in (paths["srclist_R"], paths["srclist_B"], paths["mxt"]):
        assert fitsverify(path)[:2] == (0, 0)
    truth = json.loads(paths["truth"].read_text())
    assert truth["afterglow"]["ra"] == glow.ra and truth["objids"]["afterglow"]["R0"] >= 1


def test_command_simulates_a_gcn_case(tmp_path, capsys):
    status = cli.main(
        [
            "simulate",
            "--out",
            str(tmp_path),
            "--seed",
            "4",
            "--case",
            "GRB 250419A",
            "--half-width",
            "3",
            "--r90",
            "20",
            "--alpha",
            "0.8",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [
        "QPO_MXT_sb25041901.fits",
        "QSRCLIST_VT_B_sb25041901.fits",
        "QSRCLIST_VT_R_sb25041901.fits",
        "TRUTH_sb25041901.json",
    ]
    assert "Afterglow: RA" in out and "alpha 0.8" in out and "R90 20.0 arcsec" in out
    mxt = _present(read_qpo_mxt(tmp_path / "QPO_MXT_sb25041901.fits").position)
    assert mxt.r90_arcsec == pytest.approx(20.0)


def test_command_dark_burst_on_a_catalogue_file_without_mxt(tmp_path, capsys):
    catalog = data_path(DEMO_CATALOG_FILE)
    status = cli.main(
        [
            "simulate",
            "--out",
            str(tmp_path / "out"),
            "--case",
            "dark",
            "--r90",
            "none",
            "--catalog",
            f"SDSS12={catalog}",
            "--centre",
            "215.3,52.75",
            "--half-width",
            "3",
            "--burst-id",
            "sb99010101",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0 and "Dark burst" in out and "No QPO_MXT" in out
    assert not (tmp_path / "out" / "QPO_MXT_sb99010101.fits").exists()
    assert len(read_srclists([tmp_path / "out" / "QSRCLIST_VT_R_sb99010101.fits"]).detections) > 50


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--centre", "abc"], "--centre 'abc'"),
        (["--centre", "400,0"], "RA must be in"),
        (["--r90", "-3"], "must be > 0"),
        (["--r90", "wide"], "expected a radius"),
        (["--case", "GRB 1"], "unknown GCN"),
        (["--catalog", "SDSS12"], "expected NAME=FILE"),
        (["--catalog", "SDSS12=/nonexistent.fits"], "nonexistent"),
        (["--alpha", "nan"], "--alpha nan"),
    ],
)
def test_command_bad_input_is_one_line_and_status_2(tmp_path, capsys, options, message):
    assert cli.main(["simulate", "--out", str(tmp_path), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and err.startswith("vtac simulate: error:")


def test_case_afterglow_keeps_the_reported_magnitudes():
    case = AfterglowCase("GRB X", vt_R_mag=19.8, vt_B_mag=20.38, t_mid_s=5392.2)
    spec = case.afterglow(10.0, 20.0, alpha=1.3)
    assert spec.mag_at("R", 5392.2) == pytest.approx(19.8) and spec.mag_at("B", 5392.2) == pytest.approx(
        20.38
    )
    assert spec.mag_at("R", 539.22) == pytest.approx(19.8 - 2.5 * 1.3)
