"""Waits between attempts on the broker side, from VTAC's one retry policy (:mod:`vtac.retrying`).

Reconnecting: full jitter in a window doubling from ``reconnect_initial_s`` to ``reconnect_cap_s``, counted
from the last successful connection, without a bound (the service waits for its broker). A retried input:
the top of the same window, from ``retry_delay_s`` to ``retry_delay_cap_s``, as the delay queue's
per-message TTL (docs/ICD.md), without jitter: the broker, not a crowd of clients, schedules the retry.
"""

from __future__ import annotations

from vtac.retrying import RetryPolicy
from vtac.settings import BrokerSettings


def retry_delay(config: BrokerSettings, attempt: int) -> float:
    """Capped exponential delay before attempt ``attempt + 1`` (attempt counts from 1)."""
    return RetryPolicy(base_s=config.retry_delay_s, cap_s=config.retry_delay_cap_s).ceiling_s(attempt)


class Backoff:
    """Waits between reconnection attempts, so that restarted instances do not reconnect in lockstep."""

    def __init__(self, initial_s: float, cap_s: float) -> None:
        self.policy = RetryPolicy(base_s=initial_s, cap_s=cap_s)  # its attempts do not apply: no bound
        self.failures = 0

    def next_delay(self) -> float:
        """The wait after one more failure in a row."""
        self.failures += 1
        return self.policy.delay_s(self.failures)

    def reset(self) -> None:
        """A connection succeeded: start again from the first window."""
        self.failures = 0
