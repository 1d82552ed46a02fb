"""Prefetch: the first X-ray position of a burst starts the catalogue cones of its VT field in the background.

The position reaches the ground minutes before the first VT list, and VT points at it: the field to come is
the 26' square around it (half-diagonal 18.4'), anywhere the circle allows, plus the margin the cross-match
looks beyond the detections (:data:`vtac.core.constants.COVERAGE_RADIUS_ARCSEC`). That cone, bounded by
``catalogues.prefetch.max_radius_arcmin``, is asked of every remote catalogue at once, with the catalogues'
usual deadline and retries, and stored in the cone cache as a region entry
(:meth:`vtac.adapters.cone_cache.ConeCache.put_region`). While it runs it is listed in
:class:`~vtac.adapters.cone_cache.InflightCones`: a VT-time query inside it waits for it (up to its own
deadline) instead of asking again, and asks once more if the prefetch failed.

A local HATS catalogue (``--catalog NAME=PATH``) is not fetched but warmed, in a thread of this process:
it is opened (properties, partitions, MOC: what the VT-time query reuses) and the same cone is read, so its
partitions are in the page cache when the VT list comes.

Each burst's remote cones are fetched in a worker process (``catalogues.prefetch.workers`` of them, spawned,
slightly lower priority): parsing five answers of 10^4 rows costs about two seconds of CPU, which in this
process would hold the GIL the next burst's build needs. Nothing here touches pika:
:meth:`ConePrefetcher.start` only submits and returns, so neither the consumer's I/O thread nor its worker
waits for a catalogue here. What each burst's prefetch did is kept (bounded, newest bursts) for the JSON
summary and the logs.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace

from vtac.adapters.cone_cache import ConeCache, InflightCones, holds
from vtac.adapters.hats_catalog import HatsProvider, open_hats
from vtac.adapters.providers import RemoteSettings, is_remote, query_catalogs, resolve_provider
from vtac.app.catalogs import CatalogSource
from vtac.core.constants import COVERAGE_RADIUS_ARCSEC
from vtac.core.coverage import Cone
from vtac.core.records import CatalogAnswer, CatalogStatus, MxtPosition

log = logging.getLogger(__name__)

#: Half-diagonal of VT's 26' x 26' field (arcmin): the field may lie at any roll angle around its centre.
VT_HALF_DIAGONAL_ARCMIN = 13.0 * math.sqrt(2.0)
#: Slack for a field centre (mean of the detections) a little off the pointing (arcmin).
CENTRING_SLACK_ARCMIN = 3.0
#: Bursts whose prefetch is remembered (oldest forgotten beyond).
MAX_BURSTS = 256
IN_FLIGHT = "in flight"
#: Nice increment of the prefetch processes: the builds of bursts whose VT lists are here come first.
NICENESS = 5


def prefetch_cone(position: MxtPosition, max_radius_arcmin: float) -> Cone:
    """The cone holding any VT field pointed inside the circle, rounded up to whole arcmin, bounded."""
    radius = (
        VT_HALF_DIAGONAL_ARCMIN
        + COVERAGE_RADIUS_ARCSEC / 60.0
        + CENTRING_SLACK_ARCMIN
        + position.r90_arcsec / 60.0
    )
    return Cone(position.ra, position.dec, min(math.ceil(radius), math.floor(max_radius_arcmin)) / 60.0)


def describe(answer: CatalogAnswer) -> str:
    """One word and a detail for the summary: ok (rows), truncated, not_covered, failed (why)."""
    if answer.status is CatalogStatus.OK:
        kind = "truncated (not cached)" if answer.truncated else "ok"
        return f"{kind}: {answer.n_sources} rows"
    return f"{answer.status.value}: {answer.message}"


def fetch_region(catalogs: Sequence[tuple[str, str]], remote: RemoteSettings, cone: Cone) -> dict[str, str]:
    """In a worker process: every catalogue's cone at once, stored as region entries; what each did."""
    if remote.cache_dir is None:
        raise ValueError("the prefetch needs a cone cache directory")
    cache = ConeCache(remote.cache_dir, remote.cache_max_age_s)
    uncached = replace(remote, cache_dir=None, inflight=None)
    started = time.monotonic()
    providers = [(name, resolve_provider(name, source, uncached)) for name, source in catalogs]
    outcomes = {}
    for answer in query_catalogs(providers, cone, remote.deadline_s):
        cache.put_region(answer.name, cone, answer)
        outcomes[answer.name] = f"{describe(answer)} in {time.monotonic() - started:.1f} s"
    return outcomes


def _nicer() -> None:
    """Initializer of the prefetch processes."""
    os.nice(NICENESS)


class ConePrefetcher:
    """Fetches the remote catalogues' cones around a burst's first position, in the background."""

    def __init__(
        self,
        catalogs: Sequence[CatalogSource],
        remote: RemoteSettings,
        *,
        workers: int,
        max_radius_arcmin: float,
    ) -> None:
        if remote.cache_dir is None:
            raise ValueError("the prefetch needs a cone cache directory")
        self.inflight = InflightCones()
        #: What the VT-time queries use: the same cache, aware of the cones in flight.
        self.remote = replace(remote, inflight=self.inflight)
        self._job_remote = replace(remote, inflight=None)
        self._cache = ConeCache(remote.cache_dir, remote.cache_max_age_s)
        self._catalogs = [(item.name, item.source) for item in catalogs if is_remote(item.source)]
        self._hats = [
            (item.name, provider.source)
            for item in catalogs
            if not is_remote(item.source)
            and isinstance(provider := resolve_provider(item.name, item.source, remote), HatsProvider)
        ]
        self._warmer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hats-warm")
        self._max_radius_arcmin = max_radius_arcmin
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._bursts: OrderedDict[str, tuple[Cone, dict[str, str]]] = OrderedDict()

    def start(self, burst_id: str, position: MxtPosition) -> bool:
        """Start the cones around ``position`` unless this burst's earlier prefetch already holds them."""
        cone = prefetch_cone(position, self._max_radius_arcmin)
        with self._lock:
            earlier = self._bursts.get(burst_id)
            if earlier is not None and holds(earlier[0], cone):
                return False
            status: dict[str, str] = {}
            self._bursts[burst_id] = (cone, status)
            while len(self._bursts) > MAX_BURSTS:
                self._bursts.popitem(last=False)
        wanted = []
        for name, source in self._catalogs:
            cached = self._cache.get(name, cone) is not None
            status[name] = "cached already" if cached else IN_FLIGHT
            if not cached:
                wanted.append((name, source))
        if wanted:
            self._submit(burst_id, wanted, cone, status)
        for name, source in self._hats:
            status[name] = IN_FLIGHT
            self._warmer.submit(self._warm, name, source, cone, status)
        log.info(
            "prefetching %d catalogue cone(s) of %.0f' around (%.5f, %+.5f) from %s",
            len(wanted),
            cone.radius_deg * 60.0,
            cone.ra,
            cone.dec,
            position.source,
            extra={"burst_id": burst_id},
        )
        return True

    def status(self, burst_id: str) -> dict[str, str] | None:
        """By catalogue, what the burst's prefetch did so far (None: no prefetch for it)."""
        with self._lock:
            entry = self._bursts.get(burst_id)
            return None if entry is None else dict(entry[1])

    def close(self) -> None:
        """Stop: cones not started are dropped (the VT-time query asks them), running ones end alone."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._warmer.shutdown(wait=False, cancel_futures=True)

    def _warm(self, name: str, source: str, cone: Cone, status: dict[str, str]) -> None:
        """Open a HATS catalogue and read the cone once (a failure here is the VT-time query's to report)."""
        started = time.monotonic()
        try:
            outcome = f"warmed {describe(open_hats(source).cone(name, cone))}"
        except Exception as error:  # pylint: disable=broad-exception-caught  # a bad catalogue fails later
            outcome = f"failed: {type(error).__name__}: {error}"
        with self._lock:
            status[name] = f"{outcome} in {time.monotonic() - started:.1f} s"

    def _submit(
        self, burst_id: str, wanted: list[tuple[str, str]], cone: Cone, status: dict[str, str]
    ) -> None:
        """One job for the burst; a pool that broke (a worker killed) is replaced next time, never fatal."""
        try:
            future = self._processes().submit(fetch_region, wanted, self._job_remote, cone)
        except RuntimeError as error:  # BrokenProcessPool, or shut down: the VT-time queries will ask
            self._pool = None
            with self._lock:
                status.update({name: f"failed: {error}" for name, _ in wanted})
            log.warning("prefetch not started: %s", error, extra={"burst_id": burst_id})
            return
        for name, _ in wanted:
            self.inflight.add(name, cone, future)
        future.add_done_callback(lambda done: self._finished(burst_id, wanted, status, done))

    def _processes(self) -> ProcessPoolExecutor:
        """Spawned (not forked: this process runs pika and database threads), on first use."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_nicer,
            )
        return self._pool

    def _finished(
        self,
        burst_id: str,
        wanted: list[tuple[str, str]],
        status: dict[str, str],
        done: Future[dict[str, str]],
    ) -> None:
        error = None if done.cancelled() else done.exception()
        if done.cancelled() or error is not None:
            reason = "cancelled" if error is None else f"{type(error).__name__}: {error}"
            outcomes = {name: f"failed: {reason}" for name, _ in wanted}
        else:
            outcomes = done.result()
        with self._lock:
            status.update(outcomes)
        log.info("prefetch done: %s", outcomes, extra={"burst_id": burst_id})
