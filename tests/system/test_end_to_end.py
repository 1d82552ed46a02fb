"""End to end, as an operator runs it: simulated VT lists on the real SDSS field -> ``vtac make-qpo-vt``.

Afterglows are real SVOM/VT detections from GCN circulars (packaged case table); the sky is the real SDSS
DR12 catalogue of the Extended Groth Strip. Each test checks what the Burst Advocate would see first.
"""

import json
import math

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table, vstack
from fitsverify import fitsverify
from paths import SDSS_FILE

from vtac.core.photometry import predict_vt
from vtac.core.sky import separation_arcsec
from vtac.entrypoints.cli import main as vtac
from vtac.simulation.burst import BurstSpec, simulate_burst
from vtac.simulation.injections import artefact, flaring_star, high_proper_motion_star, host_galaxy
from vtac.simulation.sky import DEMO_CENTRE, find_case

HALF_WIDTH_ARCMIN = 5.0
ARCSEC = 1 / 3600


def position(seed):
    rng = np.random.default_rng(seed)
    return DEMO_CENTRE[0] + rng.uniform(-0.3, 0.3), DEMO_CENTRE[1] + rng.uniform(-0.3, 0.3)


def run_burst(tmp_path, sky, spec, seed, catalogs=None):
    """Simulate, write the inputs, run the one-off command; return the JSON summary and the burst."""
    burst = simulate_burst(sky, spec, np.random.default_rng(seed))
    paths = burst.write(tmp_path / "inputs")
    command = ["make-qpo-vt", "--srclist", str(paths["srclist_R"]), "--srclist", str(paths["srclist_B"])]
    command += ["--mxt", str(paths["mxt"])] if "mxt" in paths else []
    for catalog in catalogs or [f"SDSS12={SDSS_FILE}"]:
        command += ["--catalog", catalog]
    assert vtac([*command, "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / f"QPO_VT_{spec.burst_id}.json").read_text())
    return summary, burst


def is_at(candidate, ra, dec, tolerance_arcsec=1.5):
    return float(separation_arcsec(candidate["ra"], candidate["dec"], ra, dec)) <= tolerance_arcsec


@pytest.mark.parametrize("case_name", ["GRB 260509A", "GRB 250419A", "GRB 250901A", "GRB 250402A"])
def test_real_gcn_afterglows_are_ranked_first_and_best(tmp_path, sky, case_name):
    case = find_case(case_name)
    ra, dec = position(7)
    spec = BurstSpec(
        ra=ra,
        dec=dec,
        burst_id="sb26050905",
        half_width_arcmin=HALF_WIDTH_ARCMIN,
        afterglow=case.afterglow(ra, dec),
        mxt_r90_arcsec=case.xray_r90_arcsec or 60.0,
    )
    summary, _ = run_burst(tmp_path, sky, spec, seed=101)
    first = summary["candidates"][0]
    assert is_at(first, ra, dec)
    assert first["rank"] == 1 and first["vt_id"] in summary["best_candidates"]
    assert first["new_src"] and first["in_mxt"] is True
    assert first["redshift_hint"] in ("z<4", "high-z")
    out = tmp_path / "out"
    assert fitsverify(out / "QPO_VT_sb26050905.fits")[:2] == (0, 0)
    warnings, errors, report = fitsverify(out / "QCANDI_VT_sb26050905.fits")
    # the one warning per light curve: the FSC column name DATE-OBS ('-' is only discouraged); see README
    assert errors == 0 and warnings == report.count("Name \"DATE-OBS\" contains character '-'") == 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_dark_fields_have_no_best_candidate(tmp_path, sky, seed):
    ra, dec = position(seed)
    spec = BurstSpec(
        ra=ra,
        dec=dec,
        burst_id="sb26010101",
        half_width_arcmin=HALF_WIDTH_ARCMIN,
        afterglow=None,
        mxt_r90_arcsec=60.0,
    )
    summary, _ = run_burst(tmp_path, sky, spec, seed=seed)
    assert summary["best_candidates"] == []
    assert summary["n_sources"] > 100


def afterglow_spec(ra, dec, injected=(), r90=120.0):
    case = find_case("GRB 260509A")
    return BurstSpec(
        ra=ra,
        dec=dec,
        burst_id="sb26050905",
        half_width_arcmin=HALF_WIDTH_ARCMIN,
        afterglow=case.afterglow(ra, dec),
        mxt_r90_arcsec=r90,
        injected=tuple(injected),
    )


def nearest_star(sky, ra, dec, mag_range=(16.5, 18.0)):
    """A real SDSS star of the field near a position, with its VT magnitudes."""
    mags = np.asarray(sky["MAG_R"])
    extended = np.asarray(sky["EXTENDED"]).astype(bool)
    separation = separation_arcsec(sky["RA"], sky["DEC"], ra, dec)
    usable = (mags > mag_range[0]) & (mags < mag_range[1]) & ~extended & (separation > 5) & (separation < 50)
    row = sky[int(np.argmin(np.where(usable, separation, np.inf)))]
    return float(row["RA"]), float(row["DEC"]), float(row["MAG_R"]), float(row["MAG_B"])


def candidate_at(summary, ra, dec):
    return next((c for c in summary["candidates"] if is_at(c, ra, dec)), None)


def test_a_flaring_catalogued_star_is_dmag_cat_not_new_and_does_not_outrank_the_afterglow(tmp_path, sky):
    ra, dec = position(11)
    star_ra, star_dec, mag_r, mag_b = nearest_star(sky, ra, dec)
    spec = afterglow_spec(
        ra, dec, [flaring_star(star_ra, star_dec, mag_r, mag_b, flare_index=1, amplitude=1.5)]
    )
    summary, _ = run_burst(tmp_path, sky, spec, seed=11)
    combined = Table(fits.getdata(tmp_path / "out" / f"QPO_VT_{spec.burst_id}.fits", "COMBINED"))
    distance = separation_arcsec(combined["RA"], combined["DEC"], star_ra, star_dec)
    flare = combined[int(np.argmin(distance))]
    assert flare["NEW_SRC"].strip() == ""
    assert {"R1", "B1"} <= set(flare["DMAG_CAT"].split(",")) and {"R1", "B1"} <= set(
        flare["BRIGHTER_CAT"].split(",")
    )
    assert is_at(summary["candidates"][0], ra, dec)
    flare_candidate = candidate_at(summary, star_ra, star_dec)
    assert flare_candidate is None or flare_candidate["probability"] < summary["candidates"][0]["probability"]


def test_a_flagged_artefact_is_not_a_best_candidate(tmp_path, sky):
    ra, dec = position(12)
    spot = (ra + 15 * ARCSEC / math.cos(math.radians(dec)), dec - 10 * ARCSEC)
    spec = afterglow_spec(ra, dec, [artefact(*spot, seq="R1", mag=20.5, eflag=16)])
    summary, _ = run_burst(tmp_path, sky, spec, seed=12)
    assert is_at(summary["candidates"][0], ra, dec)
    flagged = [
        c for c in summary["candidates"] if c["vt_id"] in summary["best_candidates"] and is_at(c, *spot)
    ]
    assert flagged == []


def gaia_file(path, ra, dec, *, g, bp, rp, pm=(0.0, 0.0), epoch=2016.0):
    Table(
        {
            "Source": [4242424242],
            "RA_ICRS": [ra],
            "DE_ICRS": [dec],
            "Gmag": [g],
            "e_Gmag": [0.003],
            "BPmag": [bp],
            "e_BPmag": [0.005],
            "RPmag": [rp],
            "e_RPmag": [0.004],
            "pmRA": [pm[0]],
            "pmDE": [pm[1]],
            "Epoch": [epoch],
        }
    ).write(path, format="fits")
    return path


def test_a_high_proper_motion_star_is_matched_not_new(tmp_path, sky):
    ra, dec = position(13)
    star_ra, star_dec = ra - 20 * ARCSEC, dec + 25 * ARCSEC  # where the star was in 2016
    gaia = Table(
        {
            "MAG_G": [17.0],
            "ERR_G": [0.003],
            "MAG_BP": [17.4],
            "ERR_BP": [0.005],
            "MAG_RP": [16.4],
            "ERR_RP": [0.004],
        }
    )
    vt = predict_vt("GAIADR3", gaia)
    moving_sky = high_proper_motion_star(
        sky,
        star_ra,
        star_dec,
        float(vt.mag_r[0]),
        float(vt.mag_b[0]),
        pm_mas_yr=(3000.0, -2000.0),
        epoch=2016.0,
    )
    spec = afterglow_spec(ra, dec)
    catalog = gaia_file(
        tmp_path / "gaia.fits", star_ra, star_dec, g=17.0, bp=17.4, rp=16.4, pm=(3000.0, -2000.0)
    )
    summary, burst = run_burst(
        tmp_path, moving_sky, spec, seed=13, catalogs=[f"SDSS12={SDSS_FILE}", f"GAIADR3={catalog}"]
    )
    years = 2026.35 - 2016.0
    now_ra = star_ra + 3.0 * years / 3600 / math.cos(math.radians(star_dec))
    now_dec = star_dec - 2.0 * years / 3600
    assert candidate_at(summary, now_ra, now_dec) is None  # matched in Gaia: neither new nor a candidate
    assert {c["name"]: c["status"] for c in summary["catalogs"]} == {"SDSS12": "ok", "GAIADR3": "ok"}
    assert is_at(summary["candidates"][0], ra, dec)
    assert burst.truth.afterglow is not None


def test_an_afterglow_on_a_faint_catalogued_galaxy_is_still_first(tmp_path, sky):
    ra, dec = position(14)
    spec = afterglow_spec(ra, dec)
    host = host_galaxy(spec.afterglow, 22.0, 22.6, offset_arcsec=0.4)
    spec = afterglow_spec(ra, dec, [host])
    catalog = Table.read(SDSS_FILE)
    row = Table(catalog[:1], copy=True)
    row["objID"] = 1
    row["RA_ICRS"], row["DE_ICRS"] = host.ra, host.dec
    row["class"] = 3
    for band, mag in zip("ugriz", (23.4, 22.9, 22.3, 21.9, 21.7), strict=True):
        row[f"{band}mag"], row[f"e_{band}mag"] = mag, 0.15
    path = tmp_path / "sdss_with_host.fits"
    vstack([catalog, row]).write(path)
    summary, _ = run_burst(tmp_path, sky, spec, seed=14, catalogs=[f"SDSS12={path}"])
    first = summary["candidates"][0]
    assert is_at(first, ra, dec)
    assert first["dmag_cat"] and first["vt_id"] in summary["best_candidates"]
