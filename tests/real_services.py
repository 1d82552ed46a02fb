"""The real services the tests use: skipped on a developer machine without them, never in CI (CI=true)."""

import os

import pytest

from vtac.errors import TransientError
from vtac.service.state import SqlInputStore, open_postgres_store

POSTGRES_URL = os.environ.get("VTAC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_store() -> SqlInputStore:
    """A store on the real PostgreSQL; unreachable fails under CI and skips elsewhere."""
    try:
        return open_postgres_store(POSTGRES_URL, connect_timeout_s=2)
    except TransientError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL: {exc}")
