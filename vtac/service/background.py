"""Background work of the service that must never hold up an input: one thread, bounded, newest first.

Used for the extras of each published version. Only the newest waiting version of a burst is kept (an
update makes the older one's extras pointless), and at most ``capacity`` bursts wait: under a flood the
oldest is dropped, so memory stays bounded whatever the input rate.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)


class LatestPerBurstQueue:
    """Runs submitted jobs one at a time on a daemon thread; per burst, a newer version replaces an older."""

    def __init__(self, capacity: int = 16, name: str = "vtac-extras") -> None:
        self._capacity = capacity
        self._name = name
        self._jobs: OrderedDict[str, tuple[int, Callable[[], None]]] = OrderedDict()
        self._condition = threading.Condition()
        self._busy = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def submit(self, burst_id: str, version: int, job: Callable[[], None]) -> None:
        """Queue ``job``; ignored when a newer version of the burst already waits, or after close."""
        with self._condition:
            waiting = self._jobs.get(burst_id)
            if self._closed or (waiting is not None and waiting[0] > version):
                return
            if waiting is not None:
                log.info("extras of v%d replaced by v%d", waiting[0], version, extra={"burst_id": burst_id})
            self._jobs[burst_id] = (version, job)
            self._jobs.move_to_end(burst_id)
            while len(self._jobs) > self._capacity:
                dropped, (old, _) = self._jobs.popitem(last=False)
                log.warning("extras of v%d dropped: too many waiting", old, extra={"burst_id": dropped})
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until nothing waits or runs; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._jobs and not self._busy, timeout_s)

    def close(self) -> None:
        """Drop what waits, let the running job finish, stop the thread."""
        with self._condition:
            self._closed = True
            self._jobs.clear()
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._jobs or self._closed)
                if self._closed:
                    return
                _, (_, job) = self._jobs.popitem(last=False)
                self._busy = True
            try:
                job()
            except Exception:  # pylint: disable=broad-exception-caught  # background: log, keep going
                log.exception("background job failed")
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()
