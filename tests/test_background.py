"""The service's background queue: newest version per burst, bounded, never blocking the caller."""

from __future__ import annotations

import threading

from vtac.service.background import LatestPerBurstQueue


def blocked(queue: LatestPerBurstQueue) -> threading.Event:
    """Occupy the queue's thread until the returned event is set."""
    release, started = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(10)

    queue.submit("busy", 1, hold)
    assert started.wait(10)
    return release


def test_only_the_newest_waiting_version_of_a_burst_runs_in_submission_order():
    queue, ran = LatestPerBurstQueue(capacity=8), []
    release = blocked(queue)
    queue.submit("a", 1, lambda: ran.append(("a", 1)))
    queue.submit("b", 1, lambda: ran.append(("b", 1)))
    queue.submit("a", 2, lambda: ran.append(("a", 2)))  # replaces a v1, goes after b
    queue.submit("a", 1, lambda: ran.append(("a", 1, "late")))  # older than what waits: ignored
    release.set()
    assert queue.wait_idle(10)
    assert ran == [("b", 1), ("a", 2)]
    queue.close()


def test_beyond_capacity_the_oldest_burst_is_dropped_and_a_failure_does_not_stop_the_queue(caplog):
    queue, ran = LatestPerBurstQueue(capacity=2), []
    release = blocked(queue)
    queue.submit("a", 1, lambda: ran.append("a"))
    queue.submit("b", 1, lambda: 1 / 0)
    queue.submit("c", 1, lambda: ran.append("c"))
    release.set()
    assert queue.wait_idle(10)
    assert ran == ["c"]
    assert any("dropped" in r.getMessage() for r in caplog.records)
    assert any("background job failed" in r.getMessage() for r in caplog.records)
    queue.close()


def test_close_drops_what_waits_and_refuses_new_work():
    queue, ran = LatestPerBurstQueue(), []
    release = blocked(queue)
    queue.submit("a", 1, lambda: ran.append("a"))
    closing = threading.Thread(target=queue.close)
    closing.start()
    release.set()
    closing.join(10)
    queue.submit("b", 1, lambda: ran.append("b"))
    assert ran == [] and not closing.is_alive()
