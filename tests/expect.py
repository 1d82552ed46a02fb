"""Assertions the tests of several layers share."""

import re

import pytest
from astropy.table import Table

from vtac.core.records import CatalogAnswer


def raises_with(error: type[Exception], text: str):
    """pytest.raises on the literal message text (file, HDU, column names contain regex metacharacters)."""
    return pytest.raises(error, match=re.escape(text))


def table_of(answer: CatalogAnswer) -> Table:
    """The catalogue answer's table, asserted present (a failed answer has none): its message says why."""
    assert answer.table is not None, answer.message
    return answer.table
