"""VTAC — the SVOM VT afterglow-candidate service."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``vtac.__version__``: the installed distribution's version (``pyproject.toml``), read when asked."""
    if name == "__version__":
        from vtac.provenance import package_version  # pylint: disable=import-outside-toplevel

        return package_version()
    raise AttributeError(f"module 'vtac' has no attribute {name!r}")
