"""Error taxonomy shared by every layer.

Each error says whether retrying can help, so that the command line maps it to an exit code and the
service maps it to a broker action (reject to the dead-letter queue, or retry later).
"""

from __future__ import annotations


class VtacError(Exception):
    """Base of every error VTAC raises on purpose."""

    retriable = False


class InputError(VtacError):
    """Bad input: a missing file, column or keyword, or an unreadable product. Never retried."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        hdu: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.file, self.hdu, self.column, self.row = file, hdu, column, row
        where = [
            f"{label} {value}"
            for label, value in (("file", file), ("HDU", hdu), ("column", column), ("row", row))
            if value is not None
        ]
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class ConfigurationError(VtacError):
    """A setting or option that cannot work (unknown catalogue, bad threshold). Never retried."""


class TransientError(VtacError):
    """An external service failed in a way that may pass (timeout, 5xx, connection lost)."""

    retriable = True
