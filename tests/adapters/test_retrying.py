"""VTAC's one retry policy, on a clock and a sleep of the test's own (no real waiting)."""

import pytest

from vtac.retrying import RetriesExhaustedError, RetryableError, RetryPolicy, call


class FakeTime:
    """A clock that only moves when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, *, retry_after_s: float = 0.0):
    calls = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise RetryableError(f"busy ({len(calls)})", retry_after_s)
        return "done"

    return attempt, calls


def test_a_call_succeeds_after_transient_failures_within_the_attempts():
    clock = FakeTime()
    attempt, calls = failing(2)
    reported: list[tuple[str, int]] = []
    policy = RetryPolicy(attempts=3, base_s=1.0, cap_s=10.0)
    report = lambda failure, number, _wait: reported.append((failure.reason, number))  # noqa: E731
    result = call(attempt, policy, sleep=clock.sleep, on_retry=report)
    assert result == "done" and len(calls) == 3
    assert reported == [("busy (1)", 1), ("busy (2)", 2)]
    assert all(0.0 <= wait <= window for wait, window in zip(clock.sleeps, (1.0, 2.0), strict=True))


def test_attempts_used_up_name_the_last_reason_and_the_count():
    clock = FakeTime()
    attempt, calls = failing(5)
    with pytest.raises(RetriesExhaustedError) as ended:
        call(attempt, RetryPolicy(attempts=3), sleep=clock.sleep)
    assert (ended.value.reason, ended.value.attempts, ended.value.refused_wait_s) == ("busy (3)", 3, None)
    assert len(calls) == 3 and len(clock.sleeps) == 2


def test_retry_after_is_a_floor_on_the_wait():
    clock = FakeTime()
    attempt, _ = failing(1, retry_after_s=3.0)
    assert call(attempt, RetryPolicy(base_s=0.01, cap_s=5.0), sleep=clock.sleep) == "done"
    assert clock.sleeps == [3.0]


def test_no_wait_crosses_the_deadline():
    clock = FakeTime()
    attempt, calls = failing(1, retry_after_s=30.0)
    with pytest.raises(RetriesExhaustedError) as ended:
        call(attempt, RetryPolicy(), deadline=clock.now + 10.0, clock=lambda: clock.now, sleep=clock.sleep)
    assert ended.value.refused_wait_s == 30.0 and clock.sleeps == [] and len(calls) == 1


def test_without_a_deadline_a_wait_beyond_the_cap_ends_the_retries():
    clock = FakeTime()
    attempt, _ = failing(1, retry_after_s=3600.0)
    with pytest.raises(RetriesExhaustedError) as ended:
        call(attempt, RetryPolicy(cap_s=8.0), sleep=clock.sleep)
    assert ended.value.refused_wait_s == 3600.0 and clock.sleeps == []


def test_other_errors_are_never_retried():
    clock = FakeTime()
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise ValueError("HTTP 404")

    with pytest.raises(ValueError, match="404"):
        call(attempt, RetryPolicy(attempts=5), sleep=clock.sleep)
    assert len(calls) == 1 and clock.sleeps == []


def test_a_policy_needs_one_attempt():
    with pytest.raises(ValueError, match="at least one attempt"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("status", "retried"),
    [(408, True), (429, True), (500, True), (503, True), (501, False), (404, False), (403, False)],
)
def test_the_sdb_and_the_catalogue_services_retry_the_same_http_answers(httpserver, status, retried):
    """A 429 from the SDB and from VizieR mean the same thing: both clients ask again, or both give up."""
    from vtac.adapters.http import HttpPolicy, fetch
    from vtac.errors import TransientError
    from vtac.service.sdb import HttpSdb, SdbRejectedError
    from vtac.settings import SdbSettings

    httpserver.expect_request("/answer").respond_with_data("busy", status=status)
    no_wait = lambda _seconds: None  # noqa: E731
    with pytest.raises(TransientError):
        fetch(httpserver.url_for("/answer"), policy=HttpPolicy(retries=1, backoff_s=0), sleep=no_wait)
    catalogue_requests = len(httpserver.log)
    sdb = HttpSdb(httpserver.url_for(""), SdbSettings(max_attempts=2, backoff_s=0), sleep=no_wait)
    with pytest.raises(TransientError if retried else SdbRejectedError):
        sdb.fetch(httpserver.url_for("/answer"))
    assert (catalogue_requests, len(httpserver.log) - catalogue_requests) == ((2, 2) if retried else (1, 1))
