"""From "an input message arrived" to "these notifications must be published": no broker code here.

One message is validated, its product fetched (or taken inline) and checked, then recorded in the per-burst
store; if that changed the burst (or an earlier attempt died before publishing), the burst's newest version
is built from every input up to it, uploaded to the SDB and announced by two notifications. The consumer
publishes them, then calls :meth:`Processor.confirmed`; only then is the version marked published.

A burst's inputs often come together (VT_R and VT_B of one sequence, the MXT position): when the consumer
already holds a later input of the same burst, this one is only recorded and the later one's build includes
it. So each notification describes every input stored so far, and a version superseded before it was built is
never built (its number is skipped; docs/ICD.md).

Errors map to broker actions once, here: bad input or a product the SDB refuses for good is REJECTed
(dead-lettered, never retried); a service that may come back (SDB, database, disk) is RETRIED. A catalogue
that fails is neither: the product is made with that catalogue marked failed (it is science, not transport).

Stored payload of an input: a JSON envelope ``{"input": <message with the content inline>, "sequences":
[...], "mxt": {...}}`` so a build needs neither the SDB nor re-reading the files to choose what to use.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from vtac.adapters.alerts import alert_trigger_time, read_alert
from vtac.adapters.mxt import parse_qpo_mxt
from vtac.adapters.providers import RemoteSettings, is_remote, resolve_provider
from vtac.adapters.srclist import SourceList, merge_srclists, parse_srclist
from vtac.adapters.summary import QpoVtSummary
from vtac.adapters.tables import short_reason
from vtac.adapters.trigger import TriggerTime
from vtac.app.catalogs import CatalogSource
from vtac.app.version import VersionBuilder, VersionInputs, usable_trigger_time
from vtac.core.positions import choose_position
from vtac.core.records import SEQUENCES, MxtPosition
from vtac.errors import ConfigurationError, InputError, TransientError
from vtac.provenance import running_code
from vtac.service.cone_prefetch import ConePrefetcher
from vtac.service.extras import ExtrasScheduler
from vtac.service.messages import (
    ExtrasLocation,
    MxtPositionV1,
    PositionAlertV1,
    ProductNotificationV1,
    SdbLocation,
    notification_from_summary,
    parse_input,
)
from vtac.service.outcome import Action, Notification, ProcessOutcome
from vtac.service.sdb import FileSdb, HttpSdb, ProductBundle, Sdb, SdbRejectedError, check_fetch_url
from vtac.service.state import (
    SOURCE_LIST,
    ExtrasRecord,
    InputStore,
    StoredInput,
    content_hash_of,
    open_input_store,
)
from vtac.settings import ConePrefetch, VtacSettings

log = logging.getLogger(__name__)

SRCLIST = SOURCE_LIST
MXT_ACRONYMS = ("QPO_MXT", MxtPositionV1.acronym, PositionAlertV1.acronym)
AUDIENCES = ("ba", "vtpp")
GZIP_MAGIC = b"\x1f\x8b"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")
InputMessage = ProductNotificationV1 | MxtPositionV1 | PositionAlertV1
#: Does the consumer already hold a later input of this burst (delivered, not yet processed)?
NewerWaiting = Callable[[str], bool]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Source lists kept read (by content hash): a burst's lists are read once, not at each of its versions.
MAX_READ_LISTS = 32


@dataclass(frozen=True)
class _Input:
    """A stored input, decoded: its message, the sequences of a source list, the X-ray position it gives
    (and, for a GCN notice, when the notice was issued)."""

    message: InputMessage
    #: Rank among the inputs of the version, in order of arrival.
    arrival: int
    sequences: tuple[str, ...] = ()
    mxt: MxtPosition | None = None
    issued: datetime | None = None
    #: The burst's trigger time T0 this input gives (a notice's, a QPO_MXT's TT_ECL), and its source.
    trigger: TriggerTime | None = None
    #: The store's key of the content (the cache of lists read is keyed by it).
    content_hash: str = ""

    @property
    def recency(self) -> tuple[datetime, int, int]:
        """Newest upstream time first, then upstream version, then arrival: redeliveries may reorder."""
        message = self.message
        if isinstance(message, MxtPositionV1):
            return (message.position_time, message.position_version, self.arrival)
        if isinstance(message, PositionAlertV1):
            return (self.issued or _EPOCH, 0, self.arrival)
        return (message.product_time, message.product_version, self.arrival)


class Processor:
    """Turns one input message into a :class:`ProcessOutcome`; safe to run on several instances at once."""

    def __init__(
        self,
        settings: VtacSettings,
        *,
        store: InputStore,
        sdb: Sdb,
        fetch: Callable[[str], bytes] | None = None,
        remote: RemoteSettings | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.sdb = sdb
        self._fetch = fetch or sdb.fetch
        catalogues = settings.catalogues
        remote = remote or catalogues.services.remote_settings()
        catalogs = checked_catalogs(catalogues.sources, remote)
        self._prefetcher = open_prefetcher(
            catalogues.prefetch, catalogs, remote, settings.state_dir / "cones"
        )
        self.builder = VersionBuilder(
            tuple(catalogs),
            remote if self._prefetcher is None else self._prefetcher.remote,
            settings.science,
            running_code(),
        )
        self._lists = ReadLists(MAX_READ_LISTS)
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._unmarked: list[tuple[str, int, list[ExtrasRecord]]] = []  # notified, not marked published yet
        self._unmarked_lock = threading.Lock()
        # Bursts whose build was left to a later input the consumer held: built at once should that input
        # not build them (dead-lettered, say), not a sweep later.
        self._deferred: set[str] = set()
        self.extras: ExtrasScheduler | None = None
        if settings.extras.enabled:
            self.extras = ExtrasScheduler(
                settings,
                store=store,
                sdb=sdb,
                owner=self._owner,
                builder=self.builder,
                inputs_of=self.inputs_of,
            )

    def process(self, body: bytes, *, newer_waiting: NewerWaiting | None = None) -> ProcessOutcome:
        """Decide what to do with one raw message body; never raises for a bad or unlucky input.

        ``newer_waiting``: asked once the input is stored; True leaves the build to that later input.
        """
        try:
            message = parse_input(
                body,
                max_bytes=self.settings.max_message_bytes,
                max_depth=self.settings.max_json_depth,
                max_elements=self.settings.max_json_elements,
            )
        except InputError as exc:
            return _reject(str(exc))
        try:
            with self.extras.input_in_progress() if self.extras is not None else nullcontext():
                return self._process(message, newer_waiting)
        except (InputError, SdbRejectedError, ConfigurationError) as exc:
            return _reject(str(exc), message.burst_id)
        except (TransientError, OSError) as exc:
            log.warning("retry later: %s", exc, extra={"burst_id": message.burst_id})
            return ProcessOutcome(Action.RETRY, reason=str(exc), burst_id=message.burst_id)

    def sweep(self) -> ProcessOutcome | None:
        """Build and return the notifications of one burst with a version stored but never notified and no
        input for ``sweep_after_s`` (its retry lost, dead-lettered or given up): None when there is none.
        The consumer publishes them and calls :meth:`confirmed`, as for an input."""
        try:
            self._mark_unmarked()
        except TransientError:
            return None
        for burst_id in self.store.unnotified_bursts(self.settings.sweep_after_s):
            if (outcome := self._build_aside(burst_id, "sweep")) is not None:
                return outcome
        return None

    def build_deferred(self, newer_waiting: NewerWaiting) -> ProcessOutcome | None:
        """Build and return the notifications of one burst whose build was left to a later input that the
        consumer no longer holds and that did not build it (None: there is none). Published like a sweep."""
        if not self._deferred:
            return None
        for burst_id in [burst for burst in self._deferred if not newer_waiting(burst)]:
            self._deferred.discard(burst_id)
            try:
                self._mark_unmarked()
            except TransientError:
                return None  # the sweeper builds it once the state store is back
            if (outcome := self._build_aside(burst_id, "left by a later input")) is not None:
                return outcome
        return None

    def _build_aside(self, burst_id: str, why: str) -> ProcessOutcome | None:
        """Claim ``burst_id`` and build its newest version outside any input (None: not claimed, nothing to
        notify, or it failed: the claim is released and the sweeper tries again later)."""
        if not self.store.claim(burst_id, self._owner, self.settings.claim_lease_s):
            return None
        try:
            busy = self.extras.input_in_progress() if self.extras is not None else nullcontext()
            with busy, self._claim_renewed(burst_id):
                outcome = self._build_unpublished(burst_id)
        except (InputError, SdbRejectedError, ConfigurationError, TransientError, OSError) as exc:
            log.warning("%s: not built now: %s", why, exc, extra={"burst_id": burst_id})
            outcome = ProcessOutcome(Action.RETRY, str(exc), burst_id)
        if outcome.notifications:
            log.info("%s: v%s built", why, outcome.product_version, extra={"burst_id": burst_id})
            return outcome
        with suppress(TransientError):
            self.store.release(burst_id, self._owner)
        return None

    def confirmed(self, outcome: ProcessOutcome) -> None:
        """The consumer got publisher confirms for every notification: the versions are now published.

        Marking them published is retried for ``confirm_retry_s`` (a database restart takes a second); a
        state store down for longer gets the mark before this instance builds anything again (kept here
        meanwhile), because an input acked unmarked would otherwise be notified again. The same transaction
        records the extras of the newest version pending (queued; drawn once no input is being processed)
        and the others superseded: this runs on pika's I/O thread, and the extras must delay neither the
        notification nor the next input.
        """
        if outcome.notifications and outcome.burst_id and outcome.product_version:
            extras = []
            if self.extras is not None:
                versions = [note.product_version or outcome.product_version for note in outcome.notifications]
                extras = self.extras.published(outcome.burst_id, [*versions, *outcome.folded])
            mark = (outcome.burst_id, outcome.product_version, extras)
            deadline = time.monotonic() + self.settings.confirm_retry_s
            while True:
                try:
                    self._mark_published(*mark)
                    break
                except TransientError as exc:
                    if time.monotonic() >= deadline:
                        log.warning("notified, marked published later: %s", exc, extra={"burst_id": mark[0]})
                        with self._unmarked_lock:
                            self._unmarked.append(mark)
                        break
                    time.sleep(0.25)
            if self.extras is not None:
                self.extras.settled()
        if outcome.burst_id:
            with suppress(TransientError):  # the claim's lease ends it anyway
                self.store.release(outcome.burst_id, self._owner)

    def _mark_published(self, burst_id: str, version: int, extras: list[ExtrasRecord]) -> None:
        self.store.mark_published(
            burst_id, version, extras, owner=self._owner, lease_s=self.settings.extras.lease_s
        )

    def _mark_unmarked(self) -> None:
        """Versions notified while the state store was down, marked published before any build (TransientError
        while it still is: the input in hand is retried)."""
        while True:  # only the worker thread takes marks out; the store is called without the lock
            with self._unmarked_lock:
                if not self._unmarked:
                    return
                mark = self._unmarked[0]
            self._mark_published(*mark)
            with self._unmarked_lock:
                self._unmarked.remove(mark)

    def prefetch_status(self, burst_id: str) -> dict[str, str] | None:
        """By catalogue, what was fetched ahead of the VT data for this burst (None: nothing)."""
        return None if self._prefetcher is None else self._prefetcher.status(burst_id)

    def wait_for_extras(self, timeout_s: float | None = None) -> bool:
        """Wait until no extras wait or are being made; False if some still are after the timeout."""
        return self.extras is None or self.extras.wait_idle(timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Stop the extras within ``timeout_s``: those not stored by then are recorded interrupted (redone at
        the next start)."""
        if self._prefetcher is not None:
            self._prefetcher.close()
        if self.extras is not None:
            self.extras.close(timeout_s)

    def _process(self, message: InputMessage, newer_waiting: NewerWaiting | None) -> ProcessOutcome:
        self._mark_unmarked()
        burst_id = message.burst_id
        key = message.content_key()
        payload = self._payload(message, content_hash_of(key))
        recorded = self.store.record(burst_id, message.acronym, key, payload)
        version = recorded.state.version
        self._maybe_prefetch(burst_id, message, payload)
        if recorded.changed and not recorded.state.needs_products:  # nothing to build from yet
            log.info("no QSRCLIST_VT yet: kept for the first version", extra={"burst_id": burst_id})
            return ProcessOutcome(Action.ACK, "no QSRCLIST_VT yet", burst_id)
        if not recorded.state.needs_products:
            log.info("repeated input, v%d already published", version, extra={"burst_id": burst_id})
            return ProcessOutcome(Action.ACK, "repeated input", burst_id, version)
        if newer_waiting is not None and newer_waiting(burst_id):
            self._deferred.add(burst_id)
            log.info(
                "v%d stored, built with the next input of the burst", version, extra={"burst_id": burst_id}
            )
            return ProcessOutcome(Action.ACK, "built with the next input of the burst", burst_id, version)
        # One instance at a time builds a burst's unpublished versions: a duplicate delivered to another
        # instance meanwhile waits (retry) and then finds them published, so nothing is notified twice.
        if not self.store.claim(burst_id, self._owner, self.settings.claim_lease_s):
            log.info("another instance is building this burst: retry later", extra={"burst_id": burst_id})
            return ProcessOutcome(
                Action.RETRY, f"burst {burst_id} is being built by another instance", burst_id
            )
        try:
            with self._claim_renewed(burst_id):
                outcome = self._build_unpublished(burst_id, version if recorded.changed else None)
        except BaseException:
            with suppress(Exception):
                self.store.release(burst_id, self._owner)
            raise
        if outcome.action is not Action.ACK:  # no confirmation will come to end the claim
            with suppress(TransientError):
                self.store.release(burst_id, self._owner)
        return outcome

    @contextmanager
    def _claim_renewed(self, burst_id: str) -> Iterator[None]:
        """Renew the claim on ``burst_id`` every third of its lease while the build runs, and once at the end
        (a full lease for publishing): the lease can be seconds, so a killed instance's bursts are taken over
        in seconds, and a long build still keeps its burst."""
        lease_s = self.settings.claim_lease_s
        done = threading.Event()

        def renew() -> None:
            while not done.wait(lease_s / 3):
                with suppress(TransientError):  # the store is down: the lease may lapse, the ICD allows it
                    if not self.store.claim(burst_id, self._owner, lease_s):
                        log.warning("claim lost to another instance", extra={"burst_id": burst_id})

        renewer = threading.Thread(target=renew, name=f"vtac-claim-{burst_id}", daemon=True)
        renewer.start()
        try:
            yield
        finally:
            done.set()
            renewer.join()
            with suppress(TransientError):
                self.store.claim(burst_id, self._owner, lease_s)

    def _build_unpublished(self, burst_id: str, own_version: int | None = None) -> ProcessOutcome:
        """The burst's newest version, when it is not published yet: it holds every input stored so far, so
        the versions stored since the last publication are not built one by one (after an outage, or inputs
        that came together). Each notification carries its version's number.

        Should the newest not build, the unpublished versions are built oldest first to find the input that
        cannot: its version is set aside (left out from then on) and the others go on. The input being
        processed is dead-lettered with the reason when its own version (``own_version``) was set aside.
        """
        self._deferred.discard(burst_id)
        state = self.store.burst_state(burst_id)
        if not state.needs_products:
            return ProcessOutcome(Action.ACK, "repeated input", burst_id, state.version)
        set_aside = self.store.set_aside_versions(burst_id)
        versions = [v for v in range(state.published + 1, state.version + 1) if v not in set_aside]
        folded: tuple[int, ...] = ()
        try:
            notifications = self._build(burst_id, versions[-1]).notifications if versions else []
            folded = tuple(versions[:-1]) if notifications else ()
        except InputError as exc:
            log.warning(
                "v%d cannot build (%s): versions built one by one",
                versions[-1],
                exc,
                extra={"burst_id": burst_id},
            )
            notifications = self._build_each(burst_id, versions, set_aside)
        if own_version in set_aside and not notifications:
            return _reject(f"set aside, cannot build: {set_aside[own_version]}", burst_id)
        reason = "" if notifications else "no QSRCLIST_VT yet"
        return ProcessOutcome(Action.ACK, reason, burst_id, state.version, notifications, folded)

    def _build_each(
        self, burst_id: str, versions: list[int], set_aside: dict[int, str]
    ) -> list[Notification]:
        """Build ``versions`` oldest first, setting aside (store and ``set_aside``) those that cannot."""
        notifications: list[Notification] = []
        for version in versions:
            try:
                notifications += self._build(burst_id, version).notifications
            except InputError as exc:  # this version's input cannot build: without it, the next ones can
                set_aside[version] = str(exc)
                self.store.set_aside(burst_id, version, str(exc))
                log.warning("v%d set aside: %s", version, exc, extra={"burst_id": burst_id})
        return notifications

    def _maybe_prefetch(self, burst_id: str, message: InputMessage, payload: bytes) -> None:
        """A position before any VT list: start the catalogue cones of the field to come (returns at once)."""
        if self._prefetcher is None or message.acronym not in MXT_ACRONYMS:
            return
        position = json.loads(payload).get("mxt")
        if position is None or any(item.acronym == SRCLIST for item in self.store.inputs(burst_id)):
            return  # with a VT list already, the build asks the catalogues now
        self._prefetcher.start(burst_id, MxtPosition(**position))

    def _payload(self, message: InputMessage, content_hash: str) -> bytes:
        """The envelope to store: content inline (fetched if need be) and what reading it taught us; a
        source list read here is kept (under its ``content_hash`` in the store) for the builds."""
        if isinstance(message, MxtPositionV1):
            envelope: dict[str, Any] = {"mxt": _position_dict(message.to_core())}
        elif isinstance(message, PositionAlertV1):
            envelope = self._read_alert(message)
        else:
            content = message.content
            if content is None:
                check_fetch_url(str(message.sdb_url), self.settings.sdb.fetch_allow_list)
                content = self._fetch(str(message.sdb_url))
            message = message.model_copy(update={"content": content, "sdb_url": None})
            envelope = self._inspect(message, content, content_hash)
        return json.dumps({"input": message.model_dump(mode="json"), **envelope}).encode()

    def _read_alert(self, message: PositionAlertV1) -> dict[str, Any]:
        """The notice's circle; refused (dead-lettered) with the reason when unusable or too large."""
        name = Path(message.filename or "").name or f"alert_{message.burst_id}"
        with unreadable_is_permanent("notice", name):
            alert = read_alert(
                message.content,
                name,
                max_radius_deg=self.settings.max_position_radius_deg,
                accept_tests=self.settings.simulated,
            )
        if alert.burst_id and alert.burst_id != message.burst_id:
            raise InputError(
                f"Burst_Id {alert.burst_id} differs from the message's {message.burst_id}", file=name
            )
        issued = alert.issued.isoformat() if alert.issued else None
        return {
            "mxt": _position_dict(alert.position),
            "issued": issued,
            **_trigger_dict(alert_trigger_time(alert)),
        }

    def _inspect(self, message: ProductNotificationV1, content: bytes, content_hash: str) -> dict[str, Any]:
        """Read the product once on arrival, so a bad file is rejected before it enters the store: whatever
        the readers fail with is permanent (the same bytes fail the same way), and a source list must hold
        a row the build can use."""
        name = local_name(message, content)
        limit = self.settings.max_fits_bytes
        with unreadable_is_permanent("FITS", name):
            if message.acronym == SRCLIST:
                read = parse_srclist(content, name, max_bytes=limit)
                sequences = _usable_sequences(read, message.burst_id, name)
                self._lists.put(content_hash, read)
                return {"sequences": sequences}
            position, t0 = parse_qpo_mxt(content, name, max_bytes=limit)
        if position is None:
            raise InputError("no usable MXT position (every row invalid or a known X-ray source)", file=name)
        trigger = None if t0 is None else TriggerTime("QPO_MXT", t0)
        return {"mxt": _position_dict(position), **_trigger_dict(trigger)}

    def _build(self, burst_id: str, version: int) -> ProcessOutcome:
        """Products of ``version`` from its inputs, stored in the SDB, and the two notifications."""
        inputs = self.inputs_of(burst_id, version)
        if inputs is None:
            log.info("no QSRCLIST_VT yet: nothing to build", extra={"burst_id": burst_id})
            return ProcessOutcome(Action.ACK, "no QSRCLIST_VT yet", burst_id, version)
        built = self.builder.build(inputs)
        locations = self.sdb.upload(ProductBundle(burst_id, version, built.files))
        log.info("QPO_VT v%d stored", version, extra={"burst_id": burst_id})
        extras = None
        if self.extras is not None:
            extras = self.extras.announce(built.result, built.summary.document(), version, locations)
        return ProcessOutcome(
            Action.ACK,
            burst_id=burst_id,
            product_version=version,
            notifications=self._notifications(built.summary, version, locations, extras),
        )

    def inputs_of(self, burst_id: str, version: int) -> VersionInputs | None:
        """What ``version`` is built from, as the store holds it (None: no QSRCLIST_VT in it yet): its
        current source lists merged (each read once, then kept), the X-ray circle and T0 chosen."""
        stored = self.store.inputs(burst_id, version)  # in order of arrival
        inputs = [_decode(item, arrival) for arrival, item in enumerate(stored)]
        srclists = _current_srclists(inputs)
        if not srclists:
            return None
        observation = merge_srclists(
            [self._lists.get(item.content_hash, partial(_read_list, item)) for item in srclists]
        )
        return VersionInputs(
            burst_id,
            observation,
            xray=_current_mxt(inputs),
            trigger=usable_trigger_time(_known_trigger_times(inputs), observation, refuse_late=False),
            prefetch=self.prefetch_status(burst_id),
        )

    def _notifications(
        self,
        summary: QpoVtSummary,
        version: int,
        locations: dict[str, str],
        extras: ExtrasLocation | None = None,
    ) -> list[Notification]:
        """The same body for both audiences; ids fixed by (burst, version, audience) so repeats dedupe."""
        sdb = SdbLocation(
            qpo_vt=locations["QPO_VT"], qcandi_vt=locations["QCANDI_VT"], summary=locations["QPO_VT_SUMMARY"]
        )
        body = notification_from_summary(
            summary, product_version=version, sdb=sdb, created=datetime.now(UTC), extras=extras
        ).model_dump_json()
        keys = (self.settings.broker.ba_routing_key, self.settings.broker.vtpp_routing_key)
        burst_id = summary.burst_id
        return [
            Notification(key, body.encode(), message_id_of(burst_id, version, audience), version)
            for key, audience in zip(keys, AUDIENCES, strict=True)
        ]


def message_id_of(burst_id: str, version: int, audience: str) -> str:
    """Deterministic notification id: a redelivery republishes the same ids, receivers drop the copy."""
    return f"vtac:{burst_id}:QPO_VT:v{version}:{audience}"


def checked_catalogs(sources: Sequence[CatalogSource], remote: RemoteSettings) -> list[CatalogSource]:
    """The configured catalogues, checked at start: a missing file must stop the service, not every input."""
    for source in sources:
        if not is_remote(source.source) and not Path(source.source).exists():
            raise ConfigurationError(f"catalogue {source.name}: {source.source}: no such file or directory")
        resolve_provider(source.name, source.source, remote)  # a service that does not serve it: refused
    return list(sources)


def open_prefetcher(
    prefetch: ConePrefetch, catalogs: Sequence[CatalogSource], remote: RemoteSettings, cache_dir: Path
) -> ConePrefetcher | None:
    """The prefetch of the remote catalogues (None: disabled or none remote); its cone cache defaults to
    ``cache_dir`` (``state_dir/cones``: where the prefetched cones wait for the VT lists)."""
    if not prefetch.enabled or not any(is_remote(item.source) for item in catalogs):
        return None
    if remote.cache_dir is None:
        remote = replace(remote, cache_dir=cache_dir)
    return ConePrefetcher(
        catalogs, remote, workers=prefetch.workers, max_radius_arcmin=prefetch.max_radius_arcmin
    )


def open_processor(settings: VtacSettings) -> Processor:
    """A processor on the configured store and SDB.

    Inbound ``sdb_url`` products are fetched over HTTP whatever the SDB; the token goes only to URLs under
    the configured SDB, never to another host a message names.
    """
    token = settings.sdb.token.get_secret_value() if settings.sdb.token else None
    anonymous = HttpSdb("", settings.sdb)
    fetch = anonymous.fetch
    sdb: Sdb = FileSdb(settings.file_sdb_root)
    if settings.sdb.url:
        http = HttpSdb(settings.sdb.url, settings.sdb, token=token)
        sdb = http
        fetch = partial(_fetch_from, http, anonymous)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    store = open_input_store(settings.state_location)
    processor = Processor(settings, store=store, sdb=sdb, fetch=fetch)
    if processor.extras is not None:
        processor.extras.resume()  # what a stop interrupted, and the worker warmed before the first burst
    return processor


def _fetch_from(sdb: HttpSdb, anonymous: HttpSdb, url: str) -> bytes:
    """With the SDB's credentials only under its base URL."""
    return (sdb if url.startswith(sdb.base_url + "/") else anonymous).fetch(url)


@contextmanager
def unreadable_is_permanent(kind: str, name: str) -> Iterator[None]:
    """Any failure of a reader on an input's bytes is an InputError ("unreadable FITS: ..."): retrying the
    same bytes cannot help, so the input is dead-lettered with the reason instead of retried for a day."""
    try:
        yield
    except (InputError, TransientError):
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught  # any reader bug on hostile bytes
        raise InputError(f"unreadable {kind}: {type(exc).__name__}: {short_reason(exc)}", file=name) from exc


def _usable_sequences(read: SourceList, burst_id: str, name: str) -> list[str]:
    """The sequences of a source list the build can use; InputError when it names another burst or has no
    usable row (stored, such a list would fail every later build of its burst)."""
    if read.burst_id and read.burst_id != burst_id:
        raise InputError(f"BURST_ID {read.burst_id} differs from the message's {burst_id}", file=name)
    if read.n_detections == 0:
        empty = "every sequence is empty" if not read.n_rejected else "every row was rejected"
        raise InputError(
            f"no usable source row ({empty}; {read.n_rejected} rejected as non-physical or "
            "non-finite): nothing to build from",
            file=name,
        )
    return [seq for seq in SEQUENCES if seq in read.sequences]


def _reject(reason: str, burst_id: str | None = None) -> ProcessOutcome:
    log.warning("rejected: %s", reason, extra={"burst_id": burst_id})
    return ProcessOutcome(Action.REJECT, reason=reason, burst_id=burst_id)


def _position_dict(position: MxtPosition | None) -> dict[str, float | str] | None:
    if position is None:
        return None
    return dataclasses.asdict(position)


def _trigger_dict(trigger: TriggerTime | None) -> dict[str, str]:
    """The envelope fields of an input's T0 (none when it gives none)."""
    if trigger is None:
        return {}
    return {"trigger_time": trigger.time.isoformat(), "trigger_source": trigger.source}


def _known_trigger_times(inputs: Sequence[_Input]) -> tuple[TriggerTime, ...]:
    """T0 of the stored inputs, best source first: position notices (oldest first), then QPO_MXT files; the
    lists' TT_ECL follows in :func:`vtac.app.version.usable_trigger_time`."""
    notices = [i.trigger for i in inputs if i.trigger is not None and isinstance(i.message, PositionAlertV1)]
    files = [
        i.trigger for i in inputs if i.trigger is not None and not isinstance(i.message, PositionAlertV1)
    ]
    return tuple(notices + files)


def _decode(item: StoredInput, arrival: int) -> _Input:
    envelope = json.loads(item.payload)
    mxt = envelope.get("mxt")
    issued = envelope.get("issued")
    t0 = envelope.get("trigger_time")
    stored = json.dumps(envelope["input"]).encode()  # written by us after the bounds were checked
    return _Input(
        message=parse_input(stored, max_bytes=len(stored)),
        arrival=arrival,
        sequences=tuple(envelope.get("sequences", ())),
        mxt=None if mxt is None else MxtPosition(**mxt),
        issued=datetime.fromisoformat(issued) if issued else None,
        trigger=TriggerTime(envelope.get("trigger_source", "notice"), datetime.fromisoformat(t0))
        if t0
        else None,
        content_hash=item.content_hash,
    )


def _current_srclists(inputs: Sequence[_Input]) -> list[_Input]:
    """Newest first, a list whose sequences a newer list already gives is superseded (an update)."""
    chosen: list[_Input] = []
    taken: set[str] = set()
    for item in sorted((i for i in inputs if i.message.acronym == SRCLIST), key=lambda i: i.recency)[::-1]:
        if taken.isdisjoint(item.sequences):
            chosen.append(item)
            taken.update(item.sequences)
    return sorted(chosen, key=lambda item: item.arrival)


def _current_mxt(inputs: Sequence[_Input]) -> MxtPosition | None:
    """The X-ray position to use (QPO_MXT file, MXT position or GCN notice): :func:`choose_position`."""
    return choose_position((item.mxt, item.recency) for item in inputs if item.mxt is not None)


def _read_list(item: _Input) -> SourceList:
    """A stored source list read again (it was read on arrival, by this instance or another one)."""
    message = item.message
    if not isinstance(message, ProductNotificationV1) or message.content is None:  # pragma: no cover
        raise InputError("stored source list without content", column="content")
    name = local_name(message, message.content)
    read = parse_srclist(message.content, name)
    _usable_sequences(read, message.burst_id, name)  # a list stored before the arrival checks existed
    return read


class ReadLists:
    """The source lists read lately, by content hash, bounded: shared by the input in hand, the builds of
    every version of its burst and the extras thread's rebuilds (hence the lock)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lists: OrderedDict[str, SourceList] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, read: SourceList) -> None:
        """Keep ``read``; the oldest goes beyond the bound."""
        with self._lock:
            self._lists[key] = read
            self._lists.move_to_end(key)
            while len(self._lists) > self._size:
                self._lists.popitem(last=False)

    def get(self, key: str, read: Callable[[], SourceList]) -> SourceList:
        """The list kept under ``key``, else ``read()`` (then kept)."""
        with self._lock:
            kept = self._lists.get(key)
        if kept is None:
            kept = read()
            self.put(key, kept)
        return kept


def local_name(message: ProductNotificationV1, content: bytes) -> str:
    """A safe file name for a product: its own name if given, the FITS suffix the readers expect."""
    stem = _UNSAFE.sub("_", Path(message.filename or "").name).strip("._")
    for suffix in (".gz", ".fits", ".fit", ".fts"):
        stem = stem.removesuffix(suffix)
    stem = stem or f"{message.acronym}_{message.burst_id}"
    return stem + (".fits.gz" if content.startswith(GZIP_MAGIC) else ".fits")
