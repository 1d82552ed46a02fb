"""VTAC's cutting of the sky into cells, for the cone cache (and the bench's baseline cell store).

Dec bands of ``cell_deg`` height, each cut in RA into equal cells about ``cell_deg`` wide at the band's edge
nearest the equator, so cells never shrink towards the poles. A cell is named ``<band>_<ra cell>``; a
position's cell, a cell's bounds and the cells a cone can touch all come from here. Measured in
bench/results.md: a cache hit in about 2 ms. (Local catalogues are HATS: :mod:`vtac.adapters.hats_catalog`.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class CellBounds:
    """The box of one cell (degrees; ``ra_high`` may be 360)."""

    ra_low: float
    ra_high: float
    dec_low: float
    dec_high: float

    @property
    def centre(self) -> tuple[float, float]:
        """RA and Dec of the middle of the box."""
        return 0.5 * (self.ra_low + self.ra_high), 0.5 * (self.dec_low + self.dec_high)


@dataclass(frozen=True)
class CellScheme:
    """Dec bands of ``cell_deg``; each band cut in RA into equal cells about ``cell_deg`` wide."""

    cell_deg: float

    @property
    def n_bands(self) -> int:
        """Number of Dec bands from -90 to +90."""
        return math.ceil(180.0 / self.cell_deg)

    def band_of(self, dec: NDArray[np.float64]) -> NDArray[np.int64]:
        """Dec band index of each position."""
        return np.clip(((dec + 90.0) // self.cell_deg).astype(np.int64), 0, self.n_bands - 1)

    def cells_in_band(self, band: int) -> int:
        """RA cells of a band: fewer near the poles, where a degree of RA is shorter."""
        low = -90.0 + band * self.cell_deg
        nearest_equator = min(abs(low), abs(low + self.cell_deg)) if low * (low + self.cell_deg) > 0 else 0.0
        return max(1, int(360.0 * math.cos(math.radians(nearest_equator)) / self.cell_deg))

    def cell_of(self, ra: float, dec: float) -> tuple[int, int]:
        """(band, RA cell) of one position."""
        band = int(self.band_of(np.array([dec]))[0])
        n_cells = self.cells_in_band(band)
        return band, min(int((ra % 360.0) / 360.0 * n_cells), n_cells - 1)

    def bounds(self, band: int, cell: int) -> CellBounds:
        """The box of one cell."""
        width = 360.0 / self.cells_in_band(band)
        dec_low = -90.0 + band * self.cell_deg
        return CellBounds(cell * width, (cell + 1) * width, dec_low, min(90.0, dec_low + self.cell_deg))

    def cell_names(self, ra: NDArray[np.float64], dec: NDArray[np.float64]) -> NDArray[np.str_]:
        """``<band>_<ra cell>`` of each position."""
        bands = self.band_of(dec)
        names = np.empty(len(ra), dtype="U16")
        for band in np.unique(bands):
            rows = bands == band
            n_cells = self.cells_in_band(int(band))
            index = np.minimum((ra[rows] % 360.0) / 360.0 * n_cells, n_cells - 1).astype(np.int64)
            names[rows] = np.char.add(f"{band}_", index.astype(str))
        return names

    def cells_of_cone(self, ra: float, dec: float, radius_deg: float) -> list[str]:
        """Every cell a cone can touch (a superset: the rows are cut exactly afterwards)."""
        low, high = self.band_of(np.array([dec - radius_deg, dec + radius_deg]))
        names = []
        for band in range(int(low), int(high) + 1):
            n_cells = self.cells_in_band(band)
            edge = max(abs(-90.0 + band * self.cell_deg), abs(-90.0 + (band + 1) * self.cell_deg))
            cos_edge = math.cos(math.radians(min(edge, 90.0)))
            if cos_edge < 1e-9 or radius_deg / cos_edge >= 180.0:
                names += [f"{band}_{i}" for i in range(n_cells)]
                continue
            half_width = radius_deg / cos_edge
            first = math.floor(((ra - half_width) % 360.0) / 360.0 * n_cells)
            span = math.ceil(2 * half_width / 360.0 * n_cells) + 1
            names += [f"{band}_{(first + k) % n_cells}" for k in range(min(span, n_cells))]
        return names
