"""HTTP for the catalogue services: one session per thread, timeouts, bounded retries, one deadline.

Remote catalogues time out, rate-limit and fail; a failure must surface as a reason, never as an empty answer.
:func:`fetch` returns the body of a 200 answer or raises :class:`~vtac.errors.TransientError` with a one-line
reason. It retries, at most ``policy.retries`` times, on connection errors (refused, reset, connect timeout)
and the transient HTTP answers (:func:`vtac.retrying.is_transient_http_status`), under VTAC's one retry
policy (:mod:`vtac.retrying`: exponential backoff with full jitter, a 429 or 503 ``Retry-After`` honoured).
A read timeout is not retried: the service is up but slow, and a second try would only spend the burst's
time budget. No attempt and no wait runs past the caller's deadline (``time.monotonic``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vtac.errors import TransientError
from vtac.provenance import package_version
from vtac.retrying import (
    RetriesExhaustedError,
    RetryableError,
    RetryPolicy,
    call,
    is_transient_http_status,
    retry_after_seconds,
)

if TYPE_CHECKING:  # requests is imported on the first request: a run on local catalogues never loads it
    import requests

__all__ = ["HttpPolicy", "Params", "fetch", "retry_after_seconds", "session"]

USER_AGENT = f"vtac/{package_version()} (SVOM VT afterglow candidates)"
_local = threading.local()
#: Query parameters; a sequence of pairs repeats a key (VizieR's ``-out``).
Params = Mapping[str, str] | Sequence[tuple[str, str]]


@dataclass(frozen=True)
class HttpPolicy:
    """Timeouts (s) and retry budget of one request."""

    connect_timeout_s: float = 3.0
    read_timeout_s: float = 8.0
    retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 4.0

    @property
    def retry(self) -> RetryPolicy:
        """The retry part, as VTAC's one retry policy."""
        return RetryPolicy(attempts=self.retries + 1, base_s=self.backoff_s, cap_s=self.max_backoff_s)


def session() -> requests.Session:
    """This thread's session (requests sessions are not thread-safe; connections are reused per thread)."""
    current = getattr(_local, "session", None)
    if current is None:
        import requests  # pylint: disable=import-outside-toplevel

        current = requests.Session()
        current.headers["User-Agent"] = USER_AGENT
        _local.session = current
    return current


def fetch(  # pylint: disable=too-many-arguments  # the request, its policy and the tests' sleep
    url: str,
    *,
    params: Params | None = None,
    data: Mapping[str, str] | None = None,
    policy: HttpPolicy = HttpPolicy(),
    deadline: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """GET (or POST when ``data`` is given) ``url`` and return the body of its 200 answer."""
    deadline = time.monotonic() + 3600.0 if deadline is None else deadline

    def attempt() -> bytes:
        answer, retry_after = _attempt(url, params=params, data=data, policy=policy, deadline=deadline)
        if isinstance(answer, bytes):
            return answer
        if retry_after is None:
            raise TransientError(answer)
        raise RetryableError(answer, retry_after)

    try:
        return call(attempt, policy.retry, deadline=deadline, sleep=sleep)
    except RetriesExhaustedError as ended:
        if ended.refused_wait_s is not None:
            wait = ended.refused_wait_s
            problem = f"{ended.reason}; no time left to retry in {wait:.1f} s before the deadline"
            raise TransientError(problem) from None
        tries = f" after {ended.attempts} attempts" if ended.attempts > 1 else ""
        raise TransientError(f"{ended.reason}{tries}") from None


def _attempt(
    url: str,
    *,
    params: Params | None,
    data: Mapping[str, str] | None,
    policy: HttpPolicy,
    deadline: float,
) -> tuple[bytes | str, float | None]:
    """One request: (body, None) on success, else (reason, seconds to wait first or None if not retriable)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return "no time left before the deadline", None
    timeout = (min(policy.connect_timeout_s, remaining), min(policy.read_timeout_s, remaining))
    import requests  # pylint: disable=import-outside-toplevel  # loaded by session() already

    try:
        response = session().request(
            "GET" if data is None else "POST", url, params=params, data=data, timeout=timeout
        )
    except requests.RequestException as exc:
        return _failure(url, exc, timeout[1])
    if response.status_code == 200:
        return response.content, None
    reason = f"HTTP {response.status_code} {response.reason} from {_host(url)}"
    if not is_transient_http_status(response.status_code):
        return reason, None
    return reason, retry_after_seconds(response.headers.get("Retry-After"))


def _failure(url: str, exc: requests.RequestException, read_timeout: float) -> tuple[str, float | None]:
    """Why a request raised, and 0 (retry after the backoff) for a connection error, None otherwise."""
    import requests  # pylint: disable=import-outside-toplevel  # loaded by session() already

    if isinstance(exc, requests.ReadTimeout):
        return f"no answer within {read_timeout:.1f} s from {_host(url)}", None
    if isinstance(exc, requests.ConnectionError):  # includes ConnectTimeout
        return f"cannot connect to {_host(url)} ({type(exc).__name__})", 0.0
    return f"request to {_host(url)} failed ({type(exc).__name__}: {exc})", None


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
