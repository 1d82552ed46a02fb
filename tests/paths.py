"""Where the suite's files are, for the tests of every layer folder (core, adapters, service, system)."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
#: Inputs the tests read: real GCN notices, catalogue answers, FSC products, schemas.
DATA = TESTS / "data"
