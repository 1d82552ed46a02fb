"""Catalogue footprints: outside them a catalogue is no evidence either way."""

import numpy as np
import pytest

from vtac.core.coverage import Cone, Coverage, cone_samples, footprint_coverage, galactic_latitude
from vtac.core.sky import separation_arcsec


@pytest.mark.parametrize(
    ("ra", "dec", "b"),
    [(192.85948, 27.12825, 90.0), (266.40499, -28.93617, 0.0), (12.85948, -27.12825, -90.0)],
    ids=["north-pole", "centre", "south-pole"],
)
def test_galactic_latitude_of_reference_points(ra, dec, b):
    assert galactic_latitude(np.array([ra]), np.array([dec]))[0] == pytest.approx(b, abs=1e-3)


def test_rim_points_are_at_the_radius():
    ra, dec = cone_samples(Cone(359.9, 45.0, 0.5))
    assert (ra[0], dec[0]) == (359.9, 45.0)
    assert separation_arcsec(ra[1:], dec[1:], 359.9, 45.0) == pytest.approx(np.full(16, 1800.0), rel=1e-9)


@pytest.mark.parametrize(
    ("name", "cone", "expected"),
    [
        ("SDSS12", Cone(215.6, 53.1, 0.3), Coverage.FULL),  # Extended Groth Strip
        ("PS1DR1", Cone(215.6, 53.1, 0.3), Coverage.FULL),
        ("LSDR10", Cone(215.6, 53.1, 0.3), Coverage.NONE),  # DR10 DECam stops at +32
        ("PS1DR1", Cone(10.0, -45.0, 0.3), Coverage.NONE),
        ("PS1DR1", Cone(10.0, -30.0, 0.3), Coverage.PARTIAL),
        ("SDSS12", Cone(20.0, 0.0, 0.3), Coverage.FULL),  # Stripe 82
        ("SDSS12", Cone(20.0, 5.0, 0.3), Coverage.NONE),
        ("SDSS12", Cone(83.8, -5.4, 0.3), Coverage.NONE),  # Orion, Galactic plane side
        ("LSDR10", Cone(150.0, 2.2, 0.3), Coverage.FULL),  # COSMOS
        ("LSDR10", Cone(266.4, -28.9, 0.3), Coverage.NONE),  # Galactic centre
        ("GAIADR3", Cone(266.4, -28.9, 0.3), Coverage.FULL),
        ("USNOB1", Cone(0.0, -89.9, 0.3), Coverage.FULL),
    ],
)
def test_footprints(name, cone, expected):
    assert footprint_coverage(name, cone) is expected
