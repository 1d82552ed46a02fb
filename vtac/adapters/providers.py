"""Catalogue providers behind one interface, the ``--catalog NAME=SOURCE`` registry, and the concurrent query.

``SOURCE`` is ``vizier`` (:mod:`vtac.adapters.vizier`), ``datalab`` (:mod:`vtac.adapters.datalab`, LSDR10
only), a HATS catalogue or a directory holding ``NAME/`` as one (:mod:`vtac.adapters.hats_catalog`, the
cone only; what ``vtac catalog ingest``/``fetch`` write) or a local file
(:func:`vtac.adapters.catalog_file.read_catalog_file`, read once, its rows in the cone). A remote provider
is wrapped: first the footprint (its shipped MOC, :mod:`vtac.adapters.moc`; outside it: NOT_COVERED,
nothing is asked), then the cone cache when one is configured, then the service. :func:`query_catalogs`
asks every remote catalogue at once under one overall deadline; one that has not answered by then is
FAILED, never an empty answer.

Settings: :class:`RemoteSettings`, built from the ``catalogues.services`` section of the one settings tree
(:class:`vtac.settings.CatalogServices`, e.g. ``VTAC_CATALOGUES__SERVICES__DEADLINE_S``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from vtac.adapters.catalog_file import read_catalog_file
from vtac.adapters.cone_cache import DEFAULT_MAX_AGE_S, ConeCache, InflightCones, cut_to_cone
from vtac.adapters.datalab import DEFAULT_DATALAB_URL, DatalabProvider
from vtac.adapters.http import HttpPolicy
from vtac.adapters.vizier import DEFAULT_VIZIER_URL, VizierProvider, failed
from vtac.core.coverage import Cone, Coverage
from vtac.core.records import CatalogAnswer, CatalogStatus
from vtac.errors import ConfigurationError, VtacError

log = logging.getLogger(__name__)

DEFAULT_DEADLINE_S = 9.0
#: Extra time granted past the deadline to threads whose last attempt was cut to it, before giving up.
_GRACE_S = 0.5
REMOTE_SOURCES = ("vizier", "datalab")


class CatalogProvider(Protocol):
    """Anything that answers a cone on a named catalogue before a deadline (``time.monotonic``)."""

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """The catalogue's answer for the cone; failures are answers (FAILED), not exceptions."""
        raise NotImplementedError


class RemoteProvider(CatalogProvider, Protocol):
    """A service that serves some catalogues."""

    def serves(self, name: str) -> bool:
        """Whether this service has the catalogue."""
        raise NotImplementedError


@dataclass(frozen=True)
class FileProvider:
    """A local catalogue file, answering like a service: its rows in the cone (a bad file is an input error).

    The service asks the same file for every version of every burst: its normalised answer is kept per
    process, keyed by the file's size and modification time, so it is read once, and again only when the
    file changes; each burst gets its own cut of it.
    """

    path: str

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """The file's rows in the cone; NOT_COVERED when none lies in the field (it covers another sky)."""
        del deadline
        path = Path(self.path)
        if not path.is_file():  # read_catalog_file names the missing file
            return read_catalog_file(name, self.path, need_magnitudes=True)
        stat = path.stat()
        kept = _file_answer(name, str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        table = kept.table
        if table is None or cone.radius_deg <= 0 or len(table) == 0:
            return replace(kept, table=None if table is None else table.copy())
        answer = cut_to_cone(kept, cone)
        if answer.table is not None and len(answer.table) == 0:
            message = f"no row of {path.name} in the field ({len(table)} rows elsewhere on the sky)"
            return CatalogAnswer(kept.name, CatalogStatus.NOT_COVERED, None, message)
        return answer


@lru_cache(maxsize=8)
def _file_answer(name: str, path: str, size: int, mtime_ns: int) -> CatalogAnswer:
    """The normalised answer of a catalogue file in one state (size and time are the cache key)."""
    del size, mtime_ns
    return read_catalog_file(name, path, need_magnitudes=True)


@dataclass(frozen=True)
class FootprintGuard:
    """NOT_COVERED without asking when the cone is outside the catalogue's footprint."""

    inner: CatalogProvider

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """Ask the inner provider only where the catalogue looked."""
        from vtac.adapters.moc import footprint_coverage  # pylint: disable=import-outside-toplevel

        coverage = footprint_coverage(name, cone)
        if coverage is Coverage.NONE:
            return CatalogAnswer(
                name,
                CatalogStatus.NOT_COVERED,
                None,
                f"field ({cone.ra:.4f}, {cone.dec:+.4f}) outside the {name} footprint: not asked",
            )
        answer = self.inner.query(name, cone, deadline)
        if coverage is Coverage.PARTIAL and answer.status is CatalogStatus.OK:
            answer.message += " (field partly outside the footprint)"
        return answer


@dataclass(frozen=True)
class CachedProvider:
    """Serve from the cone cache; on a miss fetch the whole cell cone, store it if complete, cut it.

    With ``inflight`` (the service's prefetch), a miss inside a cone still being fetched in the background
    waits for that fetch up to the deadline and reads the cache again; if the prefetch failed, the cone is
    asked once more now, with what is left of the deadline.
    """

    inner: CatalogProvider
    cache: ConeCache
    inflight: InflightCones | None = None

    def query(self, name: str, cone: Cone, deadline: float) -> CatalogAnswer:
        """A cache hit costs no network."""
        hit = self.cache.get(name, cone)
        if hit is not None:
            return hit
        pending = None if self.inflight is None else self.inflight.covering(name, cone)
        if pending is not None:  # being prefetched: wait for it rather than ask a second time
            wait_for([pending], timeout=max(0.0, deadline - time.monotonic()))
            hit = self.cache.get(name, cone)
            if hit is not None:
                return hit
            if not pending.done():
                return failed(name, "prefetch of the field still in flight at the deadline")
            log.info("%s: the prefetch failed; asking once more", name)
        cell = self.cache.cell_cone(name, cone)
        answer = self.inner.query(name, cell.cone, deadline)
        try:
            self.cache.put(cell, answer)
        except OSError as exc:  # a full or read-only disk must not lose the answer
            log.warning("%s: cannot store in the cone cache: %s", name, exc)
        return cut_to_cone(answer, cone)


@dataclass(frozen=True)
class RemoteSettings:
    """Where the services are, how long to wait for them, where to cache their answers."""

    vizier_url: str = DEFAULT_VIZIER_URL
    datalab_url: str = DEFAULT_DATALAB_URL
    policy: HttpPolicy = field(default_factory=HttpPolicy)
    deadline_s: float = DEFAULT_DEADLINE_S
    cache_dir: Path | None = None
    cache_max_age_s: float = DEFAULT_MAX_AGE_S
    #: Cones the service is prefetching (a query inside one waits for it); None outside the service.
    inflight: InflightCones | None = field(default=None, compare=False)


def is_remote(source: str) -> bool:
    """Whether a ``--catalog`` source names a service rather than a file."""
    return source.strip().lower() in REMOTE_SOURCES


def resolve_provider(name: str, source: str, settings: RemoteSettings) -> CatalogProvider:
    """The provider of ``--catalog NAME=SOURCE``; a service not serving NAME is a configuration error."""
    kind = source.strip().lower()
    if not is_remote(kind):
        if Path(source).is_file():  # the one-off command's catalogue files do not import the HATS reader
            return FileProvider(source)
        from vtac.adapters.hats_catalog import HatsProvider, is_hats  # pylint: disable=import-outside-toplevel

        for hats in (source, str(Path(source) / name)):  # a HATS catalogue, or a directory holding NAME/
            if is_hats(hats):
                return HatsProvider(hats)
        if Path(source).is_dir():
            raise ConfigurationError(
                f"--catalog {name}={source}: not a HATS catalogue (no hats.properties) and no HATS catalogue "
                f"{name}/ in it; build one with: vtac catalog ingest {name} FILE... --into {source}"
            )
        return FileProvider(source)
    service: RemoteProvider
    if kind == "vizier":
        service = VizierProvider(settings.vizier_url, settings.policy)
    else:
        service = DatalabProvider(settings.datalab_url, settings.policy)
    if not service.serves(name):
        hint = "datalab" if name == "LSDR10" else "vizier"
        raise ConfigurationError(
            f"--catalog {name}={source}: {kind} does not serve {name}; use {name}={hint}"
        )
    provider: CatalogProvider = service
    if settings.cache_dir is not None:
        cache = ConeCache(settings.cache_dir, settings.cache_max_age_s)
        provider = CachedProvider(provider, cache, settings.inflight)
    return FootprintGuard(provider)


def query_catalogs(
    providers: Sequence[tuple[str, CatalogProvider]], cone: Cone, deadline_s: float
) -> list[CatalogAnswer]:
    """Every provider's answer, in order, asked concurrently; FAILED for one not done by the deadline.

    Input and configuration errors (a bad local file) are raised: they are the user's to fix.
    """
    if not providers:
        return []
    deadline = time.monotonic() + deadline_s
    pool = ThreadPoolExecutor(max_workers=len(providers), thread_name_prefix="catalog")
    try:
        futures = [pool.submit(provider.query, name, cone, deadline) for name, provider in providers]
        wait_for(futures, timeout=max(0.0, deadline - time.monotonic()) + _GRACE_S)
        return [
            _outcome(name, future, deadline_s) for (name, _), future in zip(providers, futures, strict=True)
        ]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _outcome(name: str, future: Future[CatalogAnswer], deadline_s: float) -> CatalogAnswer:
    if not future.done():
        return failed(name, f"no answer within the overall deadline of {deadline_s:g} s")
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, VtacError) and not error.retriable:
        raise error
    log.exception("%s: provider failed", name, exc_info=error)
    return failed(name, f"provider error: {type(error).__name__}: {error}")
