"""Catalogue footprints as MOCs: outside them a catalogue is no evidence either way."""

import numpy as np
import pytest

from vtac.adapters.moc import footprint_coverage, load_moc, moc_coverage, shipped_moc_path
from vtac.core.coverage import Cone, Coverage, coverage_of_cells
from vtac.core.records import CATALOG_NAMES
from vtac.errors import InputError


@pytest.mark.parametrize(
    ("name", "cone", "expected"),
    [
        ("SDSS12", Cone(215.6, 53.1, 0.3), Coverage.FULL),  # Extended Groth Strip
        ("PS1DR1", Cone(215.6, 53.1, 0.3), Coverage.FULL),
        ("LSDR10", Cone(215.6, 53.1, 0.3), Coverage.NONE),  # DR10 DECam stops at +32
        ("PS1DR1", Cone(10.0, -45.0, 0.3), Coverage.NONE),
        ("SDSS12", Cone(20.0, 0.0, 0.3), Coverage.FULL),  # Stripe 82
        ("SDSS12", Cone(20.0, 5.0, 0.3), Coverage.NONE),
        ("SDSS12", Cone(83.8, -5.4, 0.3), Coverage.NONE),  # Orion, Galactic plane side
        ("LSDR10", Cone(150.0, 2.2, 0.3), Coverage.FULL),  # COSMOS
        ("LSDR10", Cone(266.4, -28.9, 0.3), Coverage.NONE),  # Galactic centre
        ("GAIADR3", Cone(266.4, -28.9, 0.3), Coverage.FULL),
        ("USNOB1", Cone(0.0, -89.9, 0.3), Coverage.FULL),
    ],
)
def test_shipped_footprints(name, cone, expected):
    assert footprint_coverage(name, cone) is expected


@pytest.mark.parametrize(
    ("dec", "expected"),
    [(-29.5, Coverage.FULL), (-30.0, Coverage.PARTIAL), (-30.5, Coverage.NONE)],
    ids=["inside", "straddling", "outside"],
)
def test_ps1_edge_at_dec_minus_30(dec, expected):
    """A 10' circle half across PS1's southern limit is partly covered: asked, but not taken as all."""
    assert footprint_coverage("PS1DR1", Cone(100.0, dec, 10.0 / 60.0)) is expected


@pytest.mark.parametrize(
    ("dec", "expected"),
    [(0.0, Coverage.FULL), (1.25, Coverage.PARTIAL), (1.8, Coverage.NONE)],
    ids=["stripe-centre", "stripe-edge", "beyond"],
)
def test_stripe_82_edge(dec, expected):
    assert footprint_coverage("SDSS12", Cone(20.0, dec, 10.0 / 60.0)) is expected


def test_every_remote_catalogue_ships_a_moc():
    assert all(shipped_moc_path(name).exists() for name in CATALOG_NAMES)


def test_unreadable_moc_is_an_input_error_naming_the_file(tmp_path):
    bad = tmp_path / "PS1DR1.fits"
    bad.write_text("not a FITS file")
    with pytest.raises(InputError, match=r"PS1DR1\.fits"):
        load_moc(bad)


def test_a_finer_moc_is_compared_at_the_finest_order():
    import astropy.units as u
    from mocpy import MOC

    fine = MOC.from_cone(lon=10.0 * u.deg, lat=20.0 * u.deg, radius=0.5 * u.deg, max_depth=14)
    assert moc_coverage(fine, Cone(10.0, 20.0, 0.1)) is Coverage.FULL
    assert moc_coverage(fine, Cone(10.0, 20.5, 0.1)) is Coverage.PARTIAL
    assert moc_coverage(fine, Cone(10.0, 22.0, 0.1)) is Coverage.NONE


def test_decision_from_cells():
    cone = np.array([1, 2, 3], dtype=np.uint64)
    assert coverage_of_cells(cone, cone) is Coverage.FULL
    assert coverage_of_cells(cone, np.array([2], dtype=np.uint64)) is Coverage.PARTIAL
    assert coverage_of_cells(cone, np.array([], dtype=np.uint64)) is Coverage.NONE
    assert coverage_of_cells(np.array([], dtype=np.uint64), cone) is Coverage.NONE
