"""The extras of each notified version (burst page, chart, light curves, VOEvent, notice, circular draft).

They must never delay a notification, so they are made after the broker confirmed it, one at a time, by one
spawned worker process running under Linux SCHED_IDLE (CPU nobody else wants). Per burst only the newest
waiting version is drawn; every version a notification announced ends recorded in the state store's ledger
as ``stored``, ``superseded`` (a newer version of the burst came before it was drawn) or ``failed`` (with the
reason). A stop is bounded: at the deadline the worker is killed and what was waiting or drawing is recorded
``interrupted``; the next start (of any instance) redoes it from the version's stored inputs.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from vtac.app.version import VersionBuilder, VersionInputs
from vtac.core.records import QpoVtResult
from vtac.redaction import redact
from vtac.service.messages import ExtrasLocation
from vtac.service.sdb import ProductBundle, Sdb
from vtac.service.state import ExtrasRecord, InputStore
from vtac.settings import VtacSettings

if TYPE_CHECKING:
    from vtac.adapters.extras import VersionEntry

log = logging.getLogger(__name__)

#: SDB acronym of each extra (light curves: ``QPO_VT_LC_<VT_ID>``).
EXTRAS_ACRONYMS = {
    "page": "QPO_VT_PAGE",
    "chart": "QPO_VT_CHART",
    "circular": "QPO_VT_CIRCULAR",
    "voevent": "QPO_VT_VOEVENT",
    "notice": "QPO_VT_NOTICE",
}
#: Versions built but not yet confirmed whose drawing material is kept (beyond: rebuilt from the inputs).
MAX_DEFERRED = 16
#: Waiting bursts whose drawing material is kept in memory; older ones are rebuilt from their inputs.
MAX_QUEUED = 16
#: The extras worker runs at this nice increment where SCHED_IDLE is not available.
NICENESS = 19
MAX_REASON_CHARS = 300
NEWER = "a newer version of the burst came before they were drawn"
INTERRUPTED = "the service stopped before they were stored; redone at the next start"
#: Ledger reason of stored extras that include a VOEvent (later versions cite it as superseded).
WITH_VOEVENT = "with VOEvent"

#: What the extras are drawn from: the slim result, the JSON summary, SDB addresses by label.
Material = tuple[QpoVtResult, dict[str, Any], dict[str, str]]
#: What a version is built from, as the state store holds it (None: no QSRCLIST_VT in it).
InputsOf = Callable[[str, int], VersionInputs | None]


class WorkerStoppedError(Exception):
    """The worker process was killed (stop deadline, time-out) or died."""


class IdleWorker:
    """One spawned process at idle priority that runs one call at a time and can be killed at any moment.

    Spawned, not forked: the service runs pika and database threads. Started (and its matplotlib imported)
    ahead of the first drawing by :meth:`start`, so the first extras do not pay a second of imports.
    """

    def __init__(self) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Spawn the process unless it runs."""
        with self._lock:
            if self._process is not None and self._process.is_alive():
                return
            self._close_pipe()
            parent, child = self._context.Pipe()
            process = self._context.Process(target=_serve, args=(child,), name="vtac-extras", daemon=True)
            process.start()
            child.close()  # only the child holds its end: its death is an EOF here
            self._process, self._conn = process, parent

    def call(self, function: Callable[..., Any], *args: Any, timeout_s: float) -> Any:
        """``function(*args)`` in the worker: WorkerStoppedError when killed, RuntimeError if it raised."""
        self.start()
        conn = self._conn
        assert conn is not None
        try:
            conn.send((function, args))
            if not conn.poll(timeout_s):
                self.terminate()
                raise WorkerStoppedError(f"no answer within {timeout_s:g} s")
            status, value = conn.recv()
        except (EOFError, OSError) as error:
            raise WorkerStoppedError("the extras worker stopped") from error
        if status != "ok":
            raise RuntimeError(value)
        return value

    def terminate(self) -> None:
        """Kill the process (a call waiting on it raises WorkerStoppedError)."""
        with self._lock:
            process = self._process
            if process is None:
                return
            process.terminate()
            process.join(2)
            if process.is_alive():  # pragma: no cover  # SIGTERM is enough for our own worker
                process.kill()
                process.join(2)

    def _close_pipe(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass(frozen=True)
class ExtrasJob:
    """One version to draw; without ``material`` it is rebuilt from the version's stored inputs."""

    burst_id: str
    version: int
    material: Material | None = None


class ExtrasScheduler:  # pylint: disable=too-many-instance-attributes  # one queue, its thread and worker
    """Announces, queues, draws and stores the extras; the state store's ledger says what became of each."""

    def __init__(  # pylint: disable=too-many-arguments  # the processor's store, SDB and pieces of a build
        self,
        settings: VtacSettings,
        *,
        store: InputStore,
        sdb: Sdb,
        owner: str,
        builder: VersionBuilder,
        inputs_of: InputsOf,
    ) -> None:
        self.settings, self.store, self.sdb = settings, store, sdb
        self.timing = settings.extras
        self._owner = owner
        self._builder = builder
        self._inputs_of = inputs_of
        self._worker = IdleWorker()
        self._deferred: OrderedDict[tuple[str, int], Material] = OrderedDict()
        self._waiting: OrderedDict[str, ExtrasJob] = OrderedDict()
        self._busy = False
        self._closed = False
        self._inputs = 0  # inputs being processed now
        self._last_input = 0.0  # when the last one was processed or confirmed (monotonic)
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None

    # ---- called by the processor

    def announce(
        self, result: QpoVtResult, summary: dict[str, Any], version: int, locations: Mapping[str, str]
    ) -> ExtrasLocation:
        """Where the extras of a version just built will be; kept until its notifications are confirmed."""
        from vtac.adapters.extras import slim_result  # pylint: disable=import-outside-toplevel

        planned = self.planned(summary, version)
        with self._condition:
            self._deferred[(summary["burst_id"], version)] = (
                slim_result(result, summary),
                summary,
                {**locations, **planned},
            )
            while len(self._deferred) > MAX_DEFERRED:
                self._deferred.popitem(last=False)  # rebuilt from the inputs if it is ever confirmed
        return ExtrasLocation(
            **{label: planned.get(label) for label in EXTRAS_ACRONYMS},
            light_curves={
                label.removeprefix("light_curve_"): url
                for label, url in planned.items()
                if label.startswith("light_curve_")
            },
        )

    def published(self, burst_id: str, versions: list[int]) -> list[ExtrasRecord]:
        """The notifications of ``versions`` are confirmed (or, for the older ones, their inputs were in the
        newest notified): queue the newest; what to record in the ledger (with the versions' publication, one
        transaction): it pending, the others superseded.

        Runs on pika's I/O thread: a queue append, nothing more; the drawing waits for :meth:`settled`.
        """
        newest = max(versions)
        with self._condition:
            material = self._deferred.pop((burst_id, newest), None)
            for version in versions:
                self._deferred.pop((burst_id, version), None)
        records = [
            ExtrasRecord(burst_id, version, "superseded", f"v{newest} was notified with it")
            for version in sorted(set(versions))
            if version != newest
        ]
        return [
            *records,
            ExtrasRecord(burst_id, newest, "pending"),
            *self._submit(ExtrasJob(burst_id, newest, material)),
        ]

    @contextmanager
    def input_in_progress(self) -> Iterator[None]:
        """Around the processing of an input: no drawing or upload starts meanwhile (they would compete
        with it for the disk and the second core), nor until ``extras.settle_s`` after it was settled."""
        with self._condition:
            self._inputs += 1
        try:
            yield
        finally:
            self.settled()
            with self._condition:
                self._inputs -= 1

    def settled(self) -> None:
        """An input was processed or confirmed just now: the extras wait a little longer."""
        with self._condition:
            self._last_input = time.monotonic()
            self._condition.notify_all()

    def resume(self) -> None:
        """At start: take over the extras left interrupted (or by a crashed instance) and warm the worker."""
        taken = self.store.take_over_extras(self._owner, self.timing.lease_s, gone=self._gone)
        newest: dict[str, int] = {}
        for record in taken:
            newest[record.burst_id] = max(record.version, newest.get(record.burst_id, 0))
        self._record(
            [
                ExtrasRecord(r.burst_id, r.version, "superseded", f"v{newest[r.burst_id]} redone instead")
                for r in taken
                if r.version != newest[r.burst_id]
            ]
        )
        for burst_id, version in newest.items():
            log.info("extras of v%d to redo", version, extra={"burst_id": burst_id})
            self._record(self._submit(ExtrasJob(burst_id, version)))
        self._worker.start()

    def _gone(self, owner: str) -> bool:
        """An owner (``host:pid:token``) that cannot be alive: this host, and its process is not running or
        is this one under an older token (a restarted container's PID 1)."""
        parts, mine = owner.rsplit(":", 2), self._owner.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != mine[0] or not parts[1].isdigit():
            return False
        _, pid, token = parts
        if pid == mine[1]:
            return token != mine[2]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # someone else's process: alive
            return False
        return False

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until nothing waits or is drawn; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._waiting and not self._busy, timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Stop: what waits is recorded interrupted at once; the drawing in progress may finish until the
        timeout, then the worker is killed and it is recorded interrupted too (redone at the next start)."""
        with self._condition:
            self._closed = True
            waiting = list(self._waiting.values())
            self._waiting.clear()
            self._condition.notify_all()
        self._record([ExtrasRecord(job.burst_id, job.version, "interrupted", INTERRUPTED) for job in waiting])
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                if self._busy:
                    log.warning("extras still drawing at the stop deadline: worker killed")
                self._worker.terminate()
                self._thread.join(2)  # an upload still running: its pending record is taken over later
        self._worker.terminate()

    def planned(self, summary: Mapping[str, Any], version: int) -> dict[str, str]:
        """Label -> SDB address of every extra this version will have (known from the summary alone)."""
        from vtac.adapters.extras import extras_names  # pylint: disable=import-outside-toplevel

        burst_id = summary["burst_id"]
        names = extras_names(burst_id)
        labels = ["page", "chart", "circular"] + (["voevent", "notice"] if summary["best_candidates"] else [])
        planned = {
            label: self.sdb.location(burst_id, EXTRAS_ACRONYMS[label], version, names[label])
            for label in labels
        }
        for vt_id in summary["best_candidates"]:
            name = names["light_curve"].format(vt_id=vt_id)
            planned[f"light_curve_{vt_id}"] = self.sdb.location(burst_id, f"QPO_VT_LC_{vt_id}", version, name)
        return planned

    # ---- the queue

    def _submit(self, job: ExtrasJob) -> list[ExtrasRecord]:
        """Queue ``job``, replacing an older waiting version of its burst; the record of the one dropped."""
        superseded = None
        with self._condition:
            waiting = self._waiting.get(job.burst_id)
            if self._closed or (waiting is not None and waiting.version > job.version):
                superseded = job
            else:
                superseded = waiting
                self._waiting[job.burst_id] = job
                self._waiting.move_to_end(job.burst_id)
                kept = [key for key, item in self._waiting.items() if item.material is not None]
                for key in kept[: max(0, len(kept) - MAX_QUEUED)]:  # memory bounded: rebuilt when due
                    self._waiting[key] = replace(self._waiting[key], material=None)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="vtac-extras", daemon=True)
                    self._thread.start()
                self._condition.notify_all()
            closed = self._closed
        if superseded is None:
            return []
        status, reason = ("interrupted", INTERRUPTED) if closed else ("superseded", NEWER)
        return [ExtrasRecord(superseded.burst_id, superseded.version, status, reason)]

    def _wait_for_quiet(self) -> None:
        """Until no input is processed and none was for ``settle_s`` (at most ``max_hold_s``: a flood of
        inputs delays the extras, it does not starve them)."""
        settle_s = self.timing.settle_s
        give_up = time.monotonic() + self.timing.max_hold_s
        with self._condition:
            while not self._closed and (now := time.monotonic()) < give_up:
                quiet_at = now + settle_s if self._inputs else self._last_input + settle_s
                if quiet_at <= now:
                    return
                self._condition.wait(min(quiet_at, give_up) - now)

    def _run(self) -> None:
        while True:
            with self._condition:
                self._condition.wait_for(lambda: self._waiting or self._closed)
            self._wait_for_quiet()  # a version still waiting meanwhile may be superseded by a newer one
            with self._condition:
                if self._closed:
                    return
                _, job = self._waiting.popitem(last=False)
                self._busy = True
            try:
                self._record([self._draw(job)])
            finally:
                with self._condition:
                    self._busy = False
                    self._condition.notify_all()

    def _draw(self, job: ExtrasJob) -> ExtrasRecord:
        """Draw and store one version's extras; what became of them, never an exception."""
        extra = {"burst_id": job.burst_id}
        try:
            material = job.material or self._rebuild(job)
            if material is None:
                return ExtrasRecord(job.burst_id, job.version, "failed", "no QSRCLIST_VT in this version")
            voevent = self._store(job, *material)
        except WorkerStoppedError as error:
            if self._closed:
                log.warning("extras of v%d interrupted by the stop", job.version, extra=extra)
                return ExtrasRecord(job.burst_id, job.version, "interrupted", INTERRUPTED)
            log.error("extras of v%d failed: %s", job.version, error, extra=extra)
            return ExtrasRecord(job.burst_id, job.version, "failed", _reason(error))
        except Exception as error:  # pylint: disable=broad-exception-caught  # the products are out: record
            log.exception("extras of v%d failed", job.version, extra=extra)
            return ExtrasRecord(job.burst_id, job.version, "failed", _reason(error))
        log.info("extras of v%d stored", job.version, extra=extra)
        return ExtrasRecord(job.burst_id, job.version, "stored", WITH_VOEVENT if voevent else "")

    def _store(
        self, job: ExtrasJob, result: QpoVtResult, summary: dict[str, Any], links: dict[str, str]
    ) -> bool:
        """Draw and upload one version's extras; whether they include a VOEvent (cited by later ones)."""
        # pylint: disable=import-outside-toplevel
        from vtac.adapters.extras import ExtrasContext, render_extras

        context = ExtrasContext(
            version=job.version,
            simulated=self.settings.simulated,
            links=page_links(links),
            history=self.history(job.burst_id, job.version),
            next_page=self.page_location(job.burst_id, job.version + 1),
            survey=self.settings.survey,
        )
        files = self._worker.call(render_extras, result, summary, context, timeout_s=self.timing.timeout_s)
        self._wait_for_quiet()  # the uploads flush to disk: not while a product is written
        acronyms = {
            EXTRAS_ACRONYMS.get(label) or f"QPO_VT_LC_{label.removeprefix('light_curve_')}": item
            for label, item in files.items()
        }
        self.sdb.upload(ProductBundle.of_extras(job.burst_id, job.version, acronyms))
        return "voevent" in files

    def history(self, burst_id: str, version: int) -> list[VersionEntry]:
        """The earlier versions of a burst as the ledger knows them: when each was made (its input received:
        the build follows at once), the page of each one stored (linked), what became of the others, and
        which issued a VOEvent (only those are cited as superseded)."""
        # pylint: disable=import-outside-toplevel
        from vtac.adapters.extras import VersionEntry
        from vtac.adapters.extras.context import iso_utc

        inputs = self.store.inputs(burst_id, version)
        made = {item.version: iso_utc(item.received_at, digits=0) for item in inputs}
        set_aside = self.store.set_aside_versions(burst_id)
        entries = []
        for earlier in range(1, version):
            record = self.store.extras_record(burst_id, earlier)
            stored = record is not None and record.status == "stored"
            entries.append(
                VersionEntry(
                    earlier,
                    made.get(earlier, ""),
                    _version_note(record, set_aside.get(earlier)),
                    page=self.page_location(burst_id, earlier) if stored else "",
                    voevent=stored and record is not None and record.reason == WITH_VOEVENT,
                )
            )
        return entries

    def page_location(self, burst_id: str, version: int) -> str:
        """SDB address of a version's burst page (it holds one only if that version's extras were stored)."""
        from vtac.adapters.extras import extras_names  # pylint: disable=import-outside-toplevel

        return self.sdb.location(burst_id, EXTRAS_ACRONYMS["page"], version, extras_names(burst_id)["page"])

    def _rebuild(self, job: ExtrasJob) -> Material | None:
        """The drawing material of a version whose own was not kept: its products made again (in the worker)
        from its stored inputs (the catalogues asked again; the cone cache usually answers the same)."""
        inputs = self._inputs_of(job.burst_id, job.version)
        if inputs is None:
            return None
        result, summary, names = self._worker.call(
            rebuild, self._builder, inputs, timeout_s=self.timing.timeout_s
        )
        links = {key: self.sdb.location(job.burst_id, key, job.version, name) for key, name in names.items()}
        return result, summary, {**links, **self.planned(summary, job.version)}

    def _record(self, records: list[ExtrasRecord]) -> None:
        """Into the ledger; a store that is down costs a log line (pending rows are taken over later)."""
        try:
            self.store.record_extras(records, self._owner, self.timing.lease_s)
        except Exception:  # pylint: disable=broad-exception-caught  # never lose the caller for the ledger
            log.exception(
                "extras ledger not updated: %s", [(r.burst_id, r.version, r.status) for r in records]
            )


def rebuild(builder: VersionBuilder, inputs: VersionInputs) -> Material:
    """In the worker: a version built again; the slim result, the summary and the product file names."""
    from vtac.adapters.extras import slim_result  # pylint: disable=import-outside-toplevel

    version = builder.build(inputs)
    summary = version.summary.document()
    return (
        slim_result(version.result, summary),
        summary,
        {item.acronym: item.filename for item in version.files},
    )


def page_links(locations: Mapping[str, str]) -> dict[str, str]:
    """What the burst page links to: the products and the other extras, at their SDB addresses."""
    labels = {"QPO_VT": "QPO_VT", "QCANDI_VT": "QCANDI_VT", "QPO_VT_SUMMARY": "JSON summary"}
    links = {labels[key]: url for key, url in locations.items() if key in labels}
    links.update({key: url for key, url in locations.items() if key not in labels and key != "page"})
    return links


def _version_note(record: ExtrasRecord | None, set_aside: str | None) -> str:
    """What became of an earlier version, in the page's history."""
    if set_aside is not None:
        return f"set aside, not built: {set_aside}"
    if record is None:
        return "no extras announced"
    if record.status == "stored" or not record.reason:
        return record.status
    return f"{record.status}: {record.reason}"


def _reason(error: BaseException) -> str:
    return redact(" ".join(f"{type(error).__name__}: {error}".split()))[:MAX_REASON_CHARS]


def _serve(conn: Connection) -> None:  # pragma: no cover  # runs in the worker process (coverage: not traced)
    """The worker's loop: its own session, lowest priority, then one call at a time.

    Its own session: a stop signalled from a shell to the service's process group (Ctrl-C, ``kill -- -PGID``)
    must not kill the drawing under the service, which then stops it itself and records it interrupted (not
    failed). The service ends it (terminate at the stop deadline; an EOF on the pipe if the service died).
    """
    os.setsid()
    _lower_priority()
    # pylint: disable=import-outside-toplevel,unused-import

    while True:
        try:
            function, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", function(*args))
        except Exception as error:  # pylint: disable=broad-exception-caught  # reported to the service
            answer = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}")
        conn.send(answer)


def _lower_priority() -> None:  # pragma: no cover  # runs in the worker process
    """Linux SCHED_IDLE runs the worker only on CPU nobody else wants; elsewhere the lowest nice."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(NICENESS)
