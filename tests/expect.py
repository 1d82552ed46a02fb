"""Assertions the tests of several layers share."""

import re

import pytest


def raises_with(error: type[Exception], text: str):
    """pytest.raises on the literal message text (file, HDU, column names contain regex metacharacters)."""
    return pytest.raises(error, match=re.escape(text))
