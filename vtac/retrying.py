"""One retry policy for every call that may fail for a while: the catalogue services, the SDB, the broker.

Capped exponential backoff with full jitter: the wait after failed attempt ``n`` is drawn uniformly in
``[0, min(cap_s, base_s * 2**(n-1))]`` (tenacity's ``wait_random_exponential``), so instances that failed
together do not retry together; never shorter than what the server asked for (``Retry-After``). Attempts
are bounded by number and, when the caller has one, by a deadline no wait may cross; without a deadline, a
server asking to wait longer than the cap ends the retries (a Retry-After of an hour must not hold a worker:
the input goes back to the broker's delay queue instead). Built on tenacity; the sleep and the clock are
parameters, so tests replace them instead of waiting.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

if TYPE_CHECKING:  # tenacity (which loads asyncio) is imported by the first wait or call
    import tenacity

T = TypeVar("T")


#: HTTP answers that say "not now" rather than "no": a timeout, too early, rate limiting, a server or proxy
#: failing or restarting. Every HTTP client of VTAC (the SDB, the catalogue services, the survey image)
#: retries these and only these; 501 and 505 say the request can never work: final like any other answer.
_TRANSIENT_CLIENT_STATUSES = frozenset({408, 425, 429})
_FINAL_SERVER_STATUSES = frozenset({501, 505})


def is_transient_http_status(status: int) -> bool:
    """Whether an HTTP answer with this status may succeed if the same request is sent again later."""
    if 500 <= status < 600:
        return status not in _FINAL_SERVER_STATUSES
    return status in _TRANSIENT_CLIENT_STATUSES


class RetryableError(Exception):
    """An attempt failed in a way another attempt may not: why, and how long the server asked to wait."""

    def __init__(self, reason: str, retry_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class RetriesExhaustedError(Exception):
    """The retries ended: the last reason, the attempts made, the wait refused (None: attempts used up)."""

    def __init__(self, reason: str, *, attempts: int, refused_wait_s: float | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.refused_wait_s = refused_wait_s


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``attempts`` attempts; waits of full jitter in a window doubling from ``base_s`` to ``cap_s``.

    ``cap_s`` also bounds the Retry-After that a call without a deadline honours (see :func:`call`).
    """

    attempts: int = 3
    base_s: float = 0.5
    cap_s: float = 4.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")

    def delay_s(self, failures: int, retry_after_s: float = 0.0) -> float:
        """The wait after ``failures`` failed attempts in a row (from 1), at least ``retry_after_s``."""
        import tenacity  # pylint: disable=import-outside-toplevel,redefined-outer-name
        from tenacity.wait import wait_random_exponential  # pylint: disable=import-outside-toplevel

        state = cast(tenacity.RetryCallState, _Failures(failures))  # the wait reads attempt_number only
        jitter = wait_random_exponential(multiplier=self.base_s, max=self.cap_s)
        return max(retry_after_s, float(jitter(state)))

    def ceiling_s(self, failures: int) -> float:
        """The top of the jitter window after ``failures`` failures (a wait without jitter)."""
        return float(min(self.cap_s, self.base_s * 2.0 ** max(failures - 1, 0)))


@dataclass(frozen=True)
class _Failures:
    attempt_number: int


def call(  # pylint: disable=too-many-arguments  # each one a hook the tests replace
    attempt: Callable[[], T],
    policy: RetryPolicy,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[RetryableError, int, float], None] | None = None,
) -> T:
    """``attempt()`` until it returns, raises anything but :class:`RetryableError`, or the policy says stop.

    ``on_retry(failure, attempt_number, wait_s)`` runs before each wait (a log line). The retries ending
    raise :class:`RetriesExhaustedError` with the last reason.
    """
    import tenacity  # pylint: disable=import-outside-toplevel,redefined-outer-name

    ended: dict[str, float | None] = {"refused_wait_s": None}

    def stop(state: tenacity.RetryCallState) -> bool:
        wait = state.upcoming_sleep
        if state.attempt_number >= policy.attempts:
            return True
        too_long = wait > policy.cap_s if deadline is None else clock() + wait >= deadline
        if too_long:
            ended["refused_wait_s"] = wait
            return True
        return False

    def wait(state: tenacity.RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome is not None else None
        hint = failure.retry_after_s if isinstance(failure, RetryableError) else 0.0
        return policy.delay_s(state.attempt_number, hint)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and isinstance(failure, RetryableError):
            on_retry(failure, state.attempt_number, state.upcoming_sleep)

    retrying = tenacity.Retrying(
        stop=stop,
        wait=wait,
        retry=tenacity.retry_if_exception_type(RetryableError),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except RetryableError as failure:
        attempts = int(retrying.statistics.get("attempt_number", 1))
        raise RetriesExhaustedError(
            failure.reason, attempts=attempts, refused_wait_s=ended["refused_wait_s"]
        ) from None


def retry_after_seconds(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); 0 when absent or unreadable."""
    if not value:
        return 0.0
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(0.0, when.timestamp() - time.time())
