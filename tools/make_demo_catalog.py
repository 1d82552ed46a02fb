"""Regenerate ``vtac/data/sdss12_egs_1deg.fits`` from the real SDSS rows kept in /work/shared/realdata.

The packaged demo sky is the complete SDSS DR12 PhotoPrimary catalogue of one square degree around the
Extended Groth Strip (15,083 rows), rewritten with the VizieR ``V/147/sdss12`` column names so that the very
same reader serves the packaged file and a catalogue fetched from VizieR. Magnitudes become float32 (their
errors are >= 0.0002 mag, far above float32 rounding); positions stay float64 (float32 would cost 0.01").

Usage: ``python tools/make_demo_catalog.py [SOURCE_CSV [OUTPUT_FITS]]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("/work/shared/realdata/sdss_photoprimary_egs_1deg/DERIVED_sdss_215.1-216.1_52.6-53.6_ABmag.csv")
OUTPUT = ROOT / "vtac" / "data" / "sdss12_egs_1deg.fits"
BANDS = "ugriz"
#: VizieR V/147/sdss12 'class': 3 = galaxy, 6 = star (the source CSV only says "resolved", i.e. type != 6).
GALAXY, STAR = 3, 6


def convert(source: Table) -> Table:
    """The source rows with VizieR V/147/sdss12 names, units and compact types."""
    table = Table()
    table["objID"] = np.asarray(source["objid"], dtype=np.int64)
    table["RA_ICRS"] = np.asarray(source["ra"], dtype=np.float64)
    table["DE_ICRS"] = np.asarray(source["dec"], dtype=np.float64)
    table["RA_ICRS"].unit = table["DE_ICRS"].unit = "deg"
    table["class"] = np.where(np.asarray(source["resolved"]) != 0, GALAXY, STAR).astype(np.uint8)
    for band in BANDS:
        table[f"{band}mag"] = np.asarray(source[f"{band}_mag"], dtype=np.float32)
        table[f"{band}mag"].unit = "mag"
    for band in BANDS:
        table[f"e_{band}mag"] = np.asarray(source[f"{band}_magerr"], dtype=np.float32)
        table[f"e_{band}mag"].unit = "mag"
    return table


def header_cards() -> list[tuple[str, str | float, str]]:
    """Provenance cards of the extension (the full story is in vtac/data/README.md)."""
    return [
        ("ORIGIN", "SDSS DR12 PhotoPrimary", "SkyServer rows, lsst/pipe_tasks test data"),
        ("UPSTREAM", "lsst/pipe_tasks@5b638a483d09", "tests/data/sdssrefcat"),
        ("CATALOG", "V/147/sdss12", "Column names as in VizieR"),
        ("RA_MIN", 215.1, "[deg] Box of the selection"),
        ("RA_MAX", 216.1, "[deg]"),
        ("DEC_MIN", 52.6, "[deg]"),
        ("DEC_MAX", 53.6, "[deg]"),
        ("MAGSYS", "AB", "m = 31.4 - 2.5 log10(flux / nJy)"),
    ]


def main(argv: list[str]) -> int:
    """Convert SOURCE_CSV (default: the shared copy) into OUTPUT_FITS (default: the packaged file)."""
    source_path = Path(argv[0]) if argv else SOURCE
    output_path = Path(argv[1]) if len(argv) > 1 else OUTPUT
    table = convert(Table.read(source_path, format="ascii.csv"))
    hdu = fits.table_to_hdu(table)
    hdu.name = "SDSS12"
    for key, value, comment in header_cards():
        hdu.header[key] = (value, comment)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(output_path, overwrite=True, checksum=True)
    print(f"wrote {len(table)} rows to {output_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
