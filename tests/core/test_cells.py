"""The sky-cell scheme of the cone cache: a position is in the cell the cache keys it by."""

import numpy as np
import pytest

from vtac.adapters.cone_cache import ConeCache
from vtac.core.cells import CellScheme
from vtac.core.coverage import Cone


def _sky(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    ra = rng.uniform(0.0, 360.0, n)
    dec = np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    # edges on purpose: the RA wrap, the poles, band boundaries of the 0.1 and 0.5 degree grids
    edges_ra = np.array([0.0, 359.9999999, 180.0, 0.1, 45.5])
    edges_dec = np.array([-90.0, 90.0, 0.0, 89.95, -0.5])
    return np.concatenate([ra, edges_ra]), np.concatenate([dec, edges_dec])


@pytest.mark.parametrize("cell_deg", [0.1, 0.5, 1.0])
def test_each_position_lies_in_the_box_of_the_cell_it_is_named_by(cell_deg):
    scheme = CellScheme(cell_deg)
    ra, dec = _sky(3000)
    names = scheme.cell_names(ra, dec)
    for one_ra, one_dec, name in zip(ra, dec, names, strict=True):
        band, cell = scheme.cell_of(float(one_ra), float(one_dec))
        assert name == f"{band}_{cell}"
        box = scheme.bounds(band, cell)
        assert box.ra_low - 1e-9 <= one_ra % 360.0 <= box.ra_high + 1e-9
        assert box.dec_low - 1e-9 <= one_dec <= box.dec_high + 1e-9


def test_the_cache_keys_a_cone_by_the_cell_of_its_centre(tmp_path):
    cache = ConeCache(tmp_path, cell_deg=0.5)
    store_scheme = CellScheme(0.5)
    ra, dec = _sky(200)
    for one_ra, one_dec in zip(ra, dec, strict=True):
        key = cache.cell_cone("SDSS12", Cone(float(one_ra), float(one_dec), 0.1)).key
        (name,) = store_scheme.cell_names(np.array([one_ra]), np.array([one_dec]))
        assert key.startswith(f"SDSS12_{name}_r")


def test_cells_shrink_in_number_not_in_size_towards_the_poles():
    scheme = CellScheme(1.0)
    assert scheme.cells_in_band(90) == 360  # the band just north of the equator
    assert scheme.cells_in_band(179) == 6  # 89-90 deg: 1-degree cells at Dec 89
    assert 10 < scheme.cells_in_band(175) < 40
