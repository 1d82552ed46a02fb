"""Waits between attempts: reconnecting to the broker, and the delay queue of a retried input."""

from __future__ import annotations

import random

from vtac.service.broker import AmqpConfig


def retry_delay(config: AmqpConfig, attempt: int) -> float:
    """Capped exponential delay before attempt ``attempt + 1`` (attempt counts from 1)."""
    return float(min(config.retry_delay_s * 2 ** max(attempt - 1, 0), config.retry_delay_cap_s))


class Backoff:
    """Capped exponential backoff with jitter, so that restarted instances do not reconnect in lockstep."""

    def __init__(self, initial_s: float, cap_s: float) -> None:
        self.initial_s, self.cap_s = initial_s, cap_s
        self.current_s = initial_s

    def next_delay(self) -> float:
        """The delay to wait now; the following one doubles, up to the cap."""
        delay = self.current_s + random.uniform(0.0, self.current_s / 2)
        self.current_s = min(self.current_s * 2, self.cap_s)
        return min(delay, self.cap_s)

    def reset(self) -> None:
        """A connection succeeded: start again from the initial delay."""
        self.current_s = self.initial_s
