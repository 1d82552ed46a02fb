"""Build the footprint MOCs of the five remote catalogues shipped in ``vtac/data/moc/`` (run once, offline).

Made without network access, so not from the surveys' published coverage: each MOC encodes the documented
approximate footprint VTAC used before MOCs (drawn on the safe side: a field is called outside when in
doubt), evaluated at the centre of every HEALPix cell of order ``ORDER``:

* GAIADR3, USNOB1: the whole sky.
* PS1DR1: Dec >= -30 deg (the 3pi survey limit).
* SDSS12: the northern Galactic cap of the Legacy imaging (b >= +30 deg and -3 <= Dec <= +65 deg) and
  Stripe 82 (|Dec| <= 1.25 deg, RA >= 310 or <= 59 deg). The small southern stripes 76 and 86 are left out.
* LSDR10 (``ls_dr10.tractor``, DECam only): -68 <= Dec <= +32 deg and |b| >= 20 deg (DECaLS, DES and the
  DR10 DECam extension; the Galactic plane and the far south are left out).

Replace a file by the survey's own MOC (e.g. from VizieR's MOC server, or a HATS copy's ``point_map``) where
one is at hand: VTAC reads any MOC FITS file of that name.

    .venv/bin/python tools/build_footprint_mocs.py
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.coordinates import SkyCoord
from mocpy import MOC

ORDER = 9  # cells of 6.9': the rim of a VT field cone (18' or more) is resolved
OUT = Path(__file__).resolve().parent.parent / "vtac" / "data" / "moc"


def _galactic_latitude(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    return SkyCoord(ra * u.deg, dec * u.deg, frame="icrs").galactic.b.deg


def _ps1(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    del ra
    return dec >= -30.0


def _sdss(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    north_cap = (_galactic_latitude(ra, dec) >= 30.0) & (dec >= -3.0) & (dec <= 65.0)
    stripe_82 = (np.abs(dec) <= 1.25) & ((ra >= 310.0) | (ra <= 59.0))
    return north_cap | stripe_82


def _ls_dr10(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    return (dec >= -68.0) & (dec <= 32.0) & (np.abs(_galactic_latitude(ra, dec)) >= 20.0)


def _all_sky(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    del dec
    return np.ones(len(ra), dtype=bool)


FOOTPRINTS = {"GAIADR3": _all_sky, "USNOB1": _all_sky, "PS1DR1": _ps1, "SDSS12": _sdss, "LSDR10": _ls_dr10}


def footprint_moc(inside, order: int = ORDER) -> MOC:
    """The MOC of the cells whose centre ``inside`` accepts."""
    import cdshealpix  # pylint: disable=import-outside-toplevel  # comes with mocpy

    cells = np.arange(12 * 4**order, dtype=np.uint64)
    lon, lat = cdshealpix.healpix_to_lonlat(cells, order)
    keep = inside(lon.to_value(u.deg) % 360.0, lat.to_value(u.deg))
    return MOC.from_healpix_cells(cells[keep], np.full(int(keep.sum()), order, dtype=np.uint8), order)


def main() -> None:
    """Write one MOC FITS file per catalogue."""
    OUT.mkdir(parents=True, exist_ok=True)
    for name, inside in FOOTPRINTS.items():
        moc = footprint_moc(inside)
        moc.save(OUT / f"{name}.fits", format="fits", overwrite=True)
        print(f"{name}: sky fraction {moc.sky_fraction:.4f}, {(OUT / f'{name}.fits').stat().st_size} bytes")


if __name__ == "__main__":
    main()
