"""Where the suite's files are, for the tests of every layer folder (core, adapters, service, system)."""

from pathlib import Path

from vtac.simulation.sky import data_path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
#: Inputs the tests read: real GCN notices, catalogue answers, FSC products, schemas.
DATA = TESTS / "data"
#: The packaged SDSS degree (vtac/data), and that file as a ``--catalog`` / ``VTAC_CATALOGUES__SOURCES``
#: entry.
SDSS_FILE = data_path("sdss12_egs_1deg.fits")
SDSS = f"SDSS12={SDSS_FILE}"
