"""The science core end to end, in memory: the rules a Burst Advocate relies on."""

from datetime import datetime, timedelta

import numpy as np
import pytest
from astropy.table import Table

from vtac.core.photometry import predict_vt
from vtac.core.pipeline import NOMINAL_MID_TIMES_S, SourceGrid, build_qpo_vt, julian_epoch
from vtac.core.records import (
    DETECTION_COLUMNS,
    SEQUENCES,
    CatalogAnswer,
    CatalogStatus,
    MxtPosition,
    SequenceInfo,
    VTObservation,
)
from vtac.core.schema import CANDIDATE_EXTRA_COLUMNS, CATALOG_COLUMNS, COMBINED_COLUMNS, REASONS_WIDTH
from vtac.core.science_settings import ScienceConfig
from vtac.errors import InputError

CFG = ScienceConfig()
RA0, DEC0 = 150.0, 2.0
ARCSEC = 1 / 3600


def sdss_catalog(ra, dec, r_mag, *, colour=0.4, pmra=None, pmdec=None, epoch=None):
    """An SDSS12-like answer with flat-ish colours; optional proper motions."""
    r_mag = np.asarray(r_mag, dtype=float)
    table = Table({"ID": np.arange(len(r_mag)), "RA": np.asarray(ra, float), "DEC": np.asarray(dec, float)})
    for band, offset in zip("ugriz", (2 * colour, colour, 0.0, -0.3 * colour, -0.5 * colour), strict=True):
        table[f"MAG_{band}"] = r_mag + offset
        table[f"ERR_{band}"] = np.full(len(r_mag), 0.02)
    if pmra is not None:
        table["PMRA"], table["PMDEC"], table["EPOCH"] = pmra, pmdec, epoch
    return CatalogAnswer("SDSS12", CatalogStatus.OK, table)


def grid_mags(n):
    """Catalogue magnitudes from bright stars down to the depth of SDSS (a deep, complete catalogue)."""
    return np.linspace(15.0, 22.3, n)


def star_grid(n_side=12, step_arcsec=20.0):
    offsets = (np.arange(n_side) - n_side / 2) * step_arcsec * ARCSEC
    dra, ddec = np.meshgrid(offsets, offsets)
    return RA0 + dra.ravel() / np.cos(np.radians(DEC0)), DEC0 + ddec.ravel()


def observe(sources, sequences=SEQUENCES, maglim=22.5, date="2026-05-09T23:18:31"):
    """VT detections: sources is a list of (ra, dec, {seq: (mag, eflag)})."""
    rows = []
    for objid, (ra, dec, seen) in enumerate(sources, start=1):
        for seq, (mag, eflag) in seen.items():
            rows.append((seq, objid, 0.0, 0.0, ra, dec, mag, 0.03, eflag, 0.05))
    detections = Table(rows=rows, names=DETECTION_COLUMNS)
    infos = {seq: SequenceInfo(seq, maglim, date, 300.0) for seq in sequences}
    return VTObservation(detections, infos, burst_id="sb26050905")


def vt_mags(answer):
    prediction = predict_vt(answer.name, answer.table)
    return prediction.mag_r, prediction.mag_b


MXT = MxtPosition(RA0, DEC0, 120.0)


def field_with(extra, catalog=None, mxt=MXT, cfg=CFG):
    """The grid of catalogued stars as VT sees them, plus extra sources."""
    ra, dec = star_grid()
    answer = catalog or sdss_catalog(ra, dec, grid_mags(len(ra)))
    mag_r, mag_b = vt_mags(sdss_catalog(ra, dec, grid_mags(len(ra))))
    stars = [
        (ra[i], dec[i], {s: ((mag_r if s[0] == "R" else mag_b)[i], 0) for s in SEQUENCES})
        for i in range(len(ra))
    ]
    return build_qpo_vt(observe(stars + extra), mxt, [answer], cfg)


def row_of(result, ra, dec):
    distance = np.hypot((result.combined["RA"] - ra) * np.cos(np.radians(dec)), result.combined["DEC"] - dec)
    return result.combined[int(np.argmin(distance))]


def afterglow(ra=RA0 + 5 * ARCSEC, dec=DEC0 + 7 * ARCSEC, start=18.0):
    return (ra, dec, {s: (start + 0.5 * int(s[1]) + (0.5 if s[0] == "B" else 0.0), 0) for s in SEQUENCES})


def test_tables_follow_the_fsc_layout():
    result = field_with([afterglow()])
    assert result.combined.colnames == [spec.name for spec in COMBINED_COLUMNS]
    assert result.catalog_tables["SDSS12"].colnames == [spec.name for spec in CATALOG_COLUMNS]
    expected = [spec.name for spec in COMBINED_COLUMNS + CANDIDATE_EXTRA_COLUMNS]
    assert result.candidates.colnames == expected
    assert result.sequences_used == list(SEQUENCES)


def test_catalogued_stars_are_matched_and_the_afterglow_is_new_and_first():
    result = field_with([afterglow()])
    star = row_of(result, star_grid()[0][0], star_grid()[1][0])
    assert [star[f"XFLAG_{s}"] for s in SEQUENCES] == [2] * 8
    assert star["NEW_SRC"] == "" and star["DMAG_CAT"] == ""
    best = result.best[0]
    assert best["NEW_SRC"] == "B0,R0,B1,R1,B2,R2,B3,R3"  # the FSC's order
    assert best["MAG_VAR"] == "R1-R0,R2-R1,R3-R2,B1-B0,B2-B1,B3-B2"  # the FSC's naming
    assert best["FADED"] == best["MAG_VAR"] and best["BRIGHTENED"] == ""
    assert best["SEQFLAG0"] == 13300 and best["SEQFLAG1"] == 23333
    assert best["RANK"] == 1 and best["PROB"] > 0.9 and best["Z_HINT"] == "z<4"
    assert best["B_MINUS_R"] == pytest.approx(0.5)


def test_a_failed_catalogue_never_makes_a_source_new():
    failed = CatalogAnswer("SDSS12", CatalogStatus.FAILED, message="HTTP 503 after 3 tries")
    result = field_with([afterglow()], catalog=failed)
    assert not result.verified
    assert set(result.combined["NEW_SRC"]) == {""}
    assert {result.combined[f"XFLAG_{s}"][0] for s in SEQUENCES} == {0}  # no verdict, in FSC codes
    assert result.combined["XUNKNOWN"][0] == "B0,R0,B1,R1,B2,R2,B3,R3"
    # the fading afterglow is still shown, but marked unverified
    assert len(result.candidates) >= 1 and not result.candidates["VERIFIED"].any()


def test_a_source_fainter_than_the_catalogue_can_see_is_unknown_not_new():
    faint = (RA0 - 9 * ARCSEC, DEC0 + 3 * ARCSEC, {"R0": (21.9, 0), "R1": (21.9, 0)})
    bright = (RA0 + 9 * ARCSEC, DEC0 - 3 * ARCSEC, {"R0": (19.0, 0), "R1": (19.0, 0)})
    result = field_with([faint, bright])
    assert row_of(result, faint[0], faint[1])["XFLAG_R0"] == 0
    assert "R0" in row_of(result, faint[0], faint[1])["XUNKNOWN"].split(",")
    assert row_of(result, bright[0], bright[1])["NEW_SRC"] == "R0,R1"


def test_where_the_catalogue_has_no_data_a_source_is_unknown():
    far = (RA0 + 0.2, DEC0 + 0.2, {"R0": (18.0, 0)})
    result = field_with([far], mxt=None)
    assert row_of(result, far[0], far[1])["XFLAG_R0"] == 0
    assert "R0" in row_of(result, far[0], far[1])["XUNKNOWN"].split(",")


def test_a_high_proper_motion_star_is_matched_at_the_observation_epoch():
    ra, dec = star_grid()
    pm_ra = np.zeros(len(ra))
    pm_dec = np.zeros(len(ra))
    pm_dec[0] = 3000.0  # mas/yr: 30" in 10 years
    moved_dec = dec.copy()
    moved_dec[0] = dec[0] + 3.0 * (2026.36 - 2016.0) / 3600
    catalog = sdss_catalog(ra, dec, grid_mags(len(ra)), pmra=pm_ra, pmdec=pm_dec, epoch=2016.0)
    mag_r, mag_b = vt_mags(catalog)
    seen = {s: ((mag_r if s[0] == "R" else mag_b)[0], 0) for s in SEQUENCES}
    result = field_with([(ra[0], moved_dec[0], seen)], catalog=catalog)
    star = row_of(result, ra[0], moved_dec[0])
    assert star["NEW_SRC"] == ""
    assert star["XFLAG_R0"] == 2
    no_pm = sdss_catalog(ra, dec, grid_mags(len(ra)))
    assert row_of(field_with([(ra[0], moved_dec[0], seen)], catalog=no_pm), ra[0], moved_dec[0])["NEW_SRC"]


def test_a_flaring_catalogued_star_is_dmag_cat_not_new():
    ra, dec = star_grid()
    mag_r, mag_b = vt_mags(sdss_catalog(ra, dec, grid_mags(len(ra))))
    flare = (
        ra[5] + 0.2 * ARCSEC,
        dec[5],
        {s: ((mag_r if s[0] == "R" else mag_b)[5] - 1.5, 0) for s in SEQUENCES},
    )
    result = field_with([flare])
    star = row_of(result, flare[0], flare[1])
    assert star["NEW_SRC"] == ""
    assert star["DMAG_CAT"] == "B0,R0,B1,R1,B2,R2,B3,R3"
    dmag = result.catalog_tables["SDSS12"][star["VT_ID"] - 1]["DMAG_R0"]
    assert dmag == pytest.approx(-1.5, abs=0.1)


def test_an_afterglow_on_a_faint_catalogued_galaxy_is_still_first():
    ra, dec = star_grid()
    host_ra, host_dec = RA0 + 15 * ARCSEC, DEC0 - 12 * ARCSEC
    catalog = sdss_catalog(
        np.append(ra, host_ra), np.append(dec, host_dec), np.append(grid_mags(len(ra)), 21.8)
    )
    flare = (
        ra[5] + 0.2 * ARCSEC,
        dec[5],
        {s: (vt_mags(catalog)[0 if s[0] == "R" else 1][5] - 1.0, 0) for s in SEQUENCES},
    )
    result = field_with([afterglow(host_ra + 0.3 * ARCSEC, host_dec), flare], catalog=catalog)
    best = result.candidates[0]
    assert abs(best["RA"] - host_ra) < 1 * ARCSEC and abs(best["DEC"] - host_dec) < 1 * ARCSEC
    assert best["DMAG_CAT"] and best["MAG_VAR"]


def test_a_flagged_artefact_is_never_a_best_candidate():
    artefact = (RA0 - 20 * ARCSEC, DEC0 - 25 * ARCSEC, {"R1": (21.0, 4)})
    result = field_with([artefact, afterglow()])
    ids = set(result.best["VT_ID"])
    assert row_of(result, artefact[0], artefact[1])["VT_ID"] not in ids
    assert len(ids) == 1


def test_a_dark_field_has_no_best_candidate():
    result = field_with([])
    assert len(result.best) == 0


def test_far_outside_the_x_ray_circle_a_transient_is_no_candidate():
    result = field_with([afterglow(RA0 + 0.05, DEC0)], mxt=MxtPosition(RA0, DEC0, 30.0))
    far = row_of(result, RA0 + 0.05, DEC0)
    assert far["IN_MXT"] == 0
    assert far["VT_ID"] not in set(result.candidates["VT_ID"])
    assert len(result.best) == 0 and result.p_none > 0.5


def test_reference_position_comes_from_the_most_precise_detection():
    detections = [
        ("R0", 1, 0, 0, RA0, DEC0, 18.0, 0.10, 0, 0.1),
        ("B2", 1, 0, 0, RA0 + 0.3 * ARCSEC, DEC0, 18.0, 0.02, 0, 0.1),
    ]
    observation = VTObservation(
        Table(rows=detections, names=DETECTION_COLUMNS),
        {s: SequenceInfo(s, 22.5) for s in ("R0", "B2")},
        "sbx",
    )
    result = build_qpo_vt(observation, None, [], CFG)
    assert result.combined["RADEC_OG"][0] == "B2"
    assert result.combined["RA"][0] == pytest.approx(RA0 + 0.3 * ARCSEC)
    assert result.combined["IN_MXT"][0] == -1
    assert result.combined["XFLAG_R1"][0] == 0 and result.combined["XUNKNOWN"][0] == "R0,B2"


def test_chance_coincidence_probability_grows_with_separation():
    ra, dec = star_grid()
    near = (
        ra[3] + 0.1 * ARCSEC,
        dec[3],
        {"R0": (vt_mags(sdss_catalog(ra, dec, grid_mags(len(ra))))[0][3], 0)},
    )
    result = field_with([near])
    table = result.catalog_tables["SDSS12"]
    pchance = np.asarray(table["PCHANCE_R0"])
    angdist = np.asarray(table["ANGDIST_R0"])
    ok = np.isfinite(pchance)
    assert ((pchance[ok] >= 0) & (pchance[ok] <= 1)).all()
    order = np.argsort(angdist[ok])
    assert pchance[ok][order][-1] >= pchance[ok][order][0]


def test_empty_observation_gives_an_empty_product():
    observation = VTObservation(
        Table(names=DETECTION_COLUMNS, dtype=["U2", int] + [float] * 6 + [int, float]), {}, "sb0"
    )
    result = build_qpo_vt(observation, None, [sdss_catalog([RA0], [DEC0], [18.0])], CFG)
    assert len(result.combined) == 0 and len(result.candidates) == 0


def test_julian_epoch_of_the_sequences():
    observation = observe([], date="2026-01-01T00:00:00")
    assert julian_epoch(observation) == pytest.approx(2026.0, abs=1e-3)  # J2026.0 = 2026-01-01T00:00 TT
    assert julian_epoch(observe([], date=None)) is None
    assert julian_epoch(observe([], date="yesterday")) is None


def test_a_truncated_catalogue_answer_confirms_matches_but_never_proves_a_source_new():
    ra, dec = star_grid()
    truncated = sdss_catalog(ra, dec, grid_mags(len(ra)))
    truncated.truncated = True
    result = field_with([afterglow()], catalog=truncated)
    assert set(result.combined["NEW_SRC"]) == {""}
    star = row_of(result, ra[0], dec[0])
    assert star["XFLAG_R0"] == 2


@pytest.mark.parametrize("catalogued", [False, True], ids=["uncatalogued star", "catalogued star"])
def test_an_asteroid_crossing_a_faint_star_is_split_off_it_and_linked(catalogued):
    """The asteroid merges with a star at R0/B0: neither the star nor the asteroid's epoch split off it
    (which sits on the star's catalogue counterpart: 'brighter than its counterpart') may be best."""
    star = (RA0 + 30 * ARCSEC, DEC0 + 30 * ARCSEC)
    faint_star = (*star, {"R1": (22.3, 0), "R3": (22.4, 0)})
    speed_deg_h = 30.0 * ARCSEC
    hours = np.array(NOMINAL_MID_TIMES_S) / 3600.0
    asteroid = [
        (
            star[0] + 0.3 * ARCSEC + speed_deg_h * (hours[k] - hours[0]),
            star[1],
            {f"R{k}": (19.0, 0), f"B{k}": (19.6, 0)},
        )
        for k in range(4)
    ]
    grid_ra, grid_dec = star_grid()
    catalog = sdss_catalog(
        np.append(grid_ra, star[0]), np.append(grid_dec, star[1]), np.append(grid_mags(len(grid_ra)), 22.4)
    )
    result = field_with([faint_star, *asteroid], catalog=catalog if catalogued else None)
    combined = result.combined
    offset = np.hypot((combined["RA"] - star[0]) * np.cos(np.radians(DEC0)), combined["DEC"] - star[1])
    still = combined[(offset < ARCSEC) & ~np.asarray(combined["MOVING"], dtype=bool)]
    assert len(still) == 1 and np.isnan(still["MAGCAL_R0"][0])
    assert still["MAGCAL_R1"][0] == pytest.approx(22.3)
    assert int(np.sum(combined["MOVING"])) == 4
    assert int(still["VT_ID"][0]) not in set(result.best["VT_ID"])
    assert len(result.best) == 0
    assert len(combined) == len(np.unique(np.asarray(combined["VT_ID"])))


def observe_from_trigger(trigger, delays_s, mags_of):
    """An afterglow alone, each sequence index observed ``delays_s`` seconds after ``trigger`` (300 s)."""
    starts = {
        seq: (trigger + timedelta(seconds=delays_s[int(seq[1])])).isoformat(timespec="seconds")
        for seq in SEQUENCES
    }
    rows = [(seq, 1, 0.0, 0.0, RA0, DEC0, mags_of(seq), 0.03, 0, 0.05) for seq in SEQUENCES]
    infos = {seq: SequenceInfo(seq, 22.5, starts[seq], 300.0) for seq in SEQUENCES}
    return VTObservation(Table(rows=rows, names=DETECTION_COLUMNS), infos, burst_id="sb26050905")


def test_times_count_from_the_trigger_time_when_it_is_known():
    trigger = datetime(2026, 5, 9, 21, 51, 9)
    delays = (900.0, 1500.0, 3000.0, 6000.0)  # a late start: the nominal first delay would be wrong
    mid = dict(enumerate(d + 150.0 for d in delays))

    def alpha_one(seq):
        return 17.0 + 2.5 * np.log10(mid[int(seq[1])] / 100.0) + (0.5 if seq[0] == "B" else 0.0)

    with_t0 = observe_from_trigger(trigger, delays, alpha_one)
    with_t0.trigger_time = trigger
    without_t0 = observe_from_trigger(trigger, delays, alpha_one)
    fitted = build_qpo_vt(with_t0, None, [], CFG).candidates
    guessed = build_qpo_vt(without_t0, None, [], CFG).candidates
    assert fitted["ALPHA"][0] == pytest.approx(1.0, abs=0.01)
    assert fitted["ALPHA_ERR"][0] < 0.05
    assert abs(guessed["ALPHA"][0] - 1.0) > 0.1  # counted from the first stack, the decay looks shallower


def test_a_trigger_time_after_the_first_observation_is_refused():
    trigger = datetime(2026, 5, 9, 21, 51, 9)
    observation = observe_from_trigger(trigger, (300.0, 600.0, 1900.0, 5500.0), lambda seq: 18.0)
    observation.trigger_time = datetime(2026, 5, 9, 22, 0, 0)
    with pytest.raises(InputError, match="T0 = 2026-05-09T22:00:00 is after the start of sequence R0"):
        build_qpo_vt(observation, None, [], CFG)


def candidate_at(result, ra, dec):
    """The CANDIDATES row of the source at (ra, dec), or None."""
    vt_id = int(row_of(result, ra, dec)["VT_ID"])
    rows = result.candidates[result.candidates["VT_ID"] == vt_id]
    return rows[0] if len(rows) else None


def test_a_one_camera_hit_is_never_best_and_is_listed_as_a_likely_artefact():
    """A cosmic ray: one camera, one sequence, 2 mag above the limit, the saturation bit on 20th magnitude."""
    blue_hit = (RA0 + 3 * ARCSEC, DEC0 - 4 * ARCSEC, {"B1": (20.4, 4)})
    red_hit = (RA0 - 6 * ARCSEC, DEC0 + 9 * ARCSEC, {"R2": (20.3, 4)})
    result = field_with([blue_hit, red_hit])
    assert len(result.best) == 0
    for ra, dec, _ in (blue_hit, red_hit):
        row = candidate_at(result, ra, dec)
        assert row is not None and row["PROB"] == 0.0  # listed: NEW_SRC inside the circle
        assert row["NEW_SRC"] != ""
        assert row["REASONS"].startswith("likely artefact:")
    assert "B1 without the simultaneous VT_R" in candidate_at(result, *blue_hit[:2])["REASONS"]
    assert "saturation flag at 20.3 mag in R2" in candidate_at(result, *red_hit[:2])["REASONS"]


def test_a_lone_red_hit_without_the_saturation_bit_is_not_best():
    """One VT_R stack at 20.0, 2.5 mag above the limit, unflagged, half-way out of a 15" X-ray circle: a
    dropout that faded faster than t^-3 by R1."""
    ra, dec = RA0 - 4 * ARCSEC, DEC0 + 6 * ARCSEC
    result = field_with([(ra, dec, {"R0": (20.0, 0)})], mxt=MxtPosition(RA0, DEC0, 15.0))
    row = candidate_at(result, ra, dec)  # listed: new against SDSS12 (NEW_SRC)
    assert len(result.best) == 0
    assert row["REASONS"].startswith(
        "likely artefact: seen once, where an afterglow would be seen again (p = "
    )
    assert "fading" not in row["REASONS"]


def test_a_cosmic_ray_on_a_faint_source_lends_it_neither_a_fade_nor_its_brightness():
    """A one-camera hit at 19.8 landing on a faint source seen again at 22.1: its curve is its own light."""
    ra, dec = RA0 + 8 * ARCSEC, DEC0 - 11 * ARCSEC
    result = field_with([(ra, dec, {"B0": (19.8, 4), "B2": (22.1, 0)})])
    row = candidate_at(result, ra, dec)
    assert len(result.best) == 0
    assert row is not None and row["REASONS"].startswith(
        "suspect detection: B0 without the simultaneous VT_R"
    )
    assert "fading" not in row["REASONS"] and "above the VT limit" not in row["REASONS"]
    assert not row["ALPHA"] > 1.0  # the hit's 2.3 mag "fade" is not the source's


def test_a_blue_excess_over_a_faint_star_lends_it_neither_a_fade_nor_its_brightness():
    """VT_B at 19.6 over a steady source at 21.8 in the simultaneous VT_R: a hit on top of a faint star."""
    ra, dec = RA0 - 9 * ARCSEC, DEC0 + 7 * ARCSEC
    seen = {seq: (21.8 if seq[0] == "R" else 22.3, 0) for seq in SEQUENCES} | {"B0": (19.6, 0)}
    result = field_with([(ra, dec, seen)])
    row = candidate_at(result, ra, dec)
    assert len(result.best) == 0
    assert row is not None and row["REASONS"].startswith("suspect detection: B0 at B - R = -2.2")
    assert "fading" not in row["REASONS"] and "above the VT limit" not in row["REASONS"]


def test_an_afterglow_seen_in_both_cameras_with_a_saturation_bit_stays_first():
    ra, dec, seen = afterglow(start=19.0)
    flagged = (ra, dec, {seq: (mag, 4) for seq, (mag, _) in seen.items()})
    result = field_with([flagged])
    assert candidate_at(result, ra, dec)["RANK"] == 1
    assert "likely artefact" not in candidate_at(result, ra, dec)["REASONS"]


def test_a_brightened_catalogued_star_in_the_circle_is_listed_with_its_reason():
    ra, dec = star_grid()
    star_ra, star_dec = RA0 + 25 * ARCSEC, DEC0 + 12 * ARCSEC
    catalog = sdss_catalog(
        np.append(ra, star_ra), np.append(dec, star_dec), np.append(grid_mags(len(ra)), 19.0)
    )
    quiet_r, quiet_b = vt_mags(sdss_catalog([star_ra], [star_dec], [19.0]))
    flaring = {s: ((quiet_r if s[0] == "R" else quiet_b)[0] - 2.5, 0) for s in SEQUENCES}
    result = field_with([(star_ra, star_dec, flaring)], catalog=catalog)
    row = candidate_at(result, star_ra, star_dec)
    assert row is not None and row["DMAG_CAT"] != ""
    assert "2.5 mag brighter than its SDSS12 counterpart" in row["REASONS"]


def test_a_star_flickering_at_the_limit_is_not_called_fading():
    """Uncatalogued (fainter than the catalogue), seen in the first sequence only, as chance has it."""
    ra, dec = RA0 - 14 * ARCSEC, DEC0 + 5 * ARCSEC
    result = field_with([(ra, dec, {"R0": (22.35, 0), "B0": (22.45, 0)})])
    row = candidate_at(result, ra, dec)
    assert row is None or ("fading" not in row["REASONS"] and np.isnan(row["ALPHA"]))
    assert len(result.best) == 0


def test_splitting_off_every_detection_of_a_source_keeps_the_sources_numbered_densely():
    observation = observe(
        [
            (RA0, DEC0, {"R0": (20.0, 0), "B0": (20.5, 0)}),
            (RA0 + 0.01, DEC0, {"R0": (19.0, 0), "R1": (19.1, 0)}),
        ]
    )
    grid = SourceGrid(observation, CFG.association_radius_arcsec)
    first = np.flatnonzero(grid.source == grid.source[0])
    split = grid.split_off(first)  # the first source loses both of its detections (one index: one source)
    assert split.n_sources == 2
    assert sorted(set(split.source.tolist())) == [0, 1]
    assert len(set(split.source[first].tolist())) == 1


def test_a_long_artefact_verdict_is_listed_whole_and_as_one_reason():
    """Four false saturation bits: the verdict names all four, in one reason (the JSON splits on '; ')."""
    ra, dec = RA0 + 5 * ARCSEC, DEC0 + 5 * ARCSEC
    hits = {f"R{k}": (20.2 + 0.1 * k, 4) for k in range(4)}
    result = field_with([(ra, dec, hits)])
    text = str(candidate_at(result, ra, dec)["REASONS"])
    verdict = text.split("; ", maxsplit=1)[0]
    assert verdict.startswith("likely artefact: saturation flag at 20.2 mag in R0 alone and ")
    assert verdict.endswith("saturation flag at 20.5 mag in R3 alone")
    assert len(text) <= REASONS_WIDTH


@pytest.mark.parametrize("dropped", ["R1", "R2", "R3"])
def test_an_afterglow_a_red_list_dropped_once_is_still_first_and_best(dropped):
    """Lists lose a bright source now and then (the FSC's simulations about 1 % of them): a VT_B detection
    whose source VT_R saw as bright in other sequences is the source's light, not a VT_B artefact."""
    ra, dec, seen = afterglow()
    result = field_with([(ra, dec, {seq: value for seq, value in seen.items() if seq != dropped})])
    row = candidate_at(result, ra, dec)
    assert row["RANK"] == 1 and row["VT_ID"] in set(result.best["VT_ID"])
    assert "artefact" not in row["REASONS"] and "suspect" not in row["REASONS"]
