"""VTAC — the SVOM VT afterglow-candidate service."""

__version__ = "0.1.0"
