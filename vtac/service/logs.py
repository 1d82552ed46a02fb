"""pika's own log lines: warnings and above, and none for a failed connection attempt.

A refused connection makes pika log seven ERROR lines (socket, connector, workflow, ``_create_connection``
with a traceback) before raising the exception our reconnect loop catches and reports in one line. Those
lines say nothing the exception does not, so they are dropped; everything else pika says at WARNING or
above is kept.
"""

from __future__ import annotations

import logging

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
