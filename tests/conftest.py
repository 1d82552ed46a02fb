"""Suite-wide settings."""

import pytest


@pytest.fixture(autouse=True)
def _service_extras_off_unless_asked(monkeypatch):
    """The service's extras (page, chart, VOEvent...) run on a thread after each confirmed version; tests of
    the service flow do not wait for them, so they are off here and on in the tests that are about them."""
    monkeypatch.setenv("VTAC_EXTRAS", "false")
