"""The service's logging: JSON lines carrying the burst being processed, and pika kept quiet.

JSON lines (:func:`configure_json_logging`): one object per record, secrets redacted, with ``burst_id``
from the record or from :func:`burst_logging`, the context of the input being processed.

pika's own log lines: warnings and above, and none for a failed connection attempt. A refused connection
makes pika log seven ERROR lines (socket, connector, workflow, ``_create_connection`` with a traceback)
before raising the exception our reconnect loop catches and reports in one line. Those lines say nothing
the exception does not, so they are dropped; everything else pika says at WARNING or above is kept.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from vtac.redaction import redact

burst_context: contextvars.ContextVar[str | None] = contextvars.ContextVar("burst_id", default=None)

#: Loggers that only narrate the connection workflow whose outcome reaches the caller as an exception.
_WORKFLOW_LOGGERS = ("pika.adapters.utils.connection_workflow", "pika.adapters.utils.io_services_utils")
#: ``pika.adapters.blocking_connection`` messages repeating that exception.
_REPEATED_FAILURES = ("Connection workflow failed", "Error in _create_connection")


class _DropConnectionAttemptNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in _WORKFLOW_LOGGERS:
            return record.levelno >= logging.CRITICAL
        return not str(record.msg).startswith(_REPEATED_FAILURES)


_FILTER = _DropConnectionAttemptNoise()


def quiet_pika() -> None:
    """pika at WARNING, without the per-attempt connection narrative (idempotent)."""
    logging.getLogger("pika").setLevel(logging.WARNING)
    for name in (*_WORKFLOW_LOGGERS, "pika.adapters.blocking_connection"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the burst being processed (``burst_id``) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        burst_id = getattr(record, "burst_id", None) or burst_context.get()
        if burst_id:
            entry["burst_id"] = burst_id
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send every log record to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


@contextmanager
def burst_logging(burst_id: str | None) -> Iterator[None]:
    """Every record logged inside carries ``burst_id`` (JSON lines)."""
    token = burst_context.set(burst_id)
    try:
        yield
    finally:
        burst_context.reset(token)
