"""The service tests' shared rig: a simulated burst and the input messages upstream sends for it, the
processor's answers read as a consumer does, one running instance (the real Processor behind the real
Consumer), and readers of the notifications both audiences receive."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import real_services
from astropy.io import fits
from real_services import Broker, wait_for

from vtac.core.records import ARCSEC
from vtac.errors import InputError
from vtac.service.consumer import Consumer
from vtac.service.messages import parse_input
from vtac.service.outcome import Action, Notification, ProcessOutcome
from vtac.service.processor import Processor
from vtac.service.publish import InputMessage, mxt_position_message, product_message
from vtac.settings import BrokerSettings
from vtac.simulation import simulate_burst
from vtac.simulation.burst import SimulatedBurst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec

BURST_ID = "sb26050905"
#: Routing key of each audience's notification -> the audience.
AUDIENCES = {key: key.rsplit(".", 1)[-1] for key in real_services.AUDIENCES}
PRODUCT_TIME = datetime(2026, 5, 9, 22, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Burst:
    """A simulated burst as upstream would send it: R and B source lists and the MXT position."""

    burst_id: str
    inputs: dict[str, InputMessage]
    afterglow: tuple[float, float]


def simulate_files(
    sky, folder: Path, burst_id: str = BURST_ID, seed: int = 5, **changes: Any
) -> tuple[SimulatedBurst, dict[str, Path]]:
    """An afterglow on the real SDSS field, in a small (3') field so that each build is quick: the burst
    and the files it wrote (``changes`` replace fields of its spec)."""
    ra, dec = DEMO_CENTRE[0] + 0.05, DEMO_CENTRE[1] - 0.05
    spec = afterglow_burst_spec(ra, dec, burst_id, half_width_arcmin=3.0, mxt_r90_arcsec=60.0)
    burst = simulate_burst(sky, replace(spec, **changes), np.random.default_rng(seed))
    return burst, burst.write(folder)


def simulate(sky, folder: Path, burst_id: str) -> Burst:
    """The same as upstream sends it: the R and B lists and the MXT position as input messages."""
    simulated, paths = simulate_files(sky, folder, burst_id, seed=7)
    mxt, glow = simulated.mxt, simulated.truth.afterglow
    assert mxt is not None and glow is not None
    lists = {
        band: product_message(
            paths[f"srclist_{band}"], acronym="QSRCLIST_VT", burst_id=burst_id, product_time=PRODUCT_TIME
        )
        for band in "RB"
    }
    position_message = mxt_position_message(
        mxt.ra, mxt.dec, mxt.r90_arcsec, burst_id=burst_id, position_time=PRODUCT_TIME
    )
    return Burst(burst_id, {**lists, "MXT": position_message}, (glow.ra, glow.dec))


# --- input messages as bytes, and the processor's answers -----------------------------------------------


def product(acronym: str, path: Path, *, version: int = 1, burst_id: str = BURST_ID, **fields: Any) -> bytes:
    """A product message carrying the file inline (fields given as None are left out)."""
    message = {
        "kind": "product",
        "schema_version": "1",
        "acronym": acronym,
        "burst_id": burst_id,
        "product_time": f"2026-05-09T22:0{version}:00Z",
        "product_version": version,
        "filename": path.name,
        "content": base64.b64encode(path.read_bytes()).decode(),
        **fields,
    }
    return json.dumps({key: value for key, value in message.items() if value is not None}).encode()


def position(ra: float, dec: float, r90: float, *, version: int = 1, burst_id: str = BURST_ID) -> bytes:
    """An MXT position message."""
    message = {
        "kind": "mxt_position",
        "schema_version": "1",
        "burst_id": burst_id,
        "ra": ra,
        "dec": dec,
        "r90_arcsec": r90,
        "position_time": f"2026-05-09T22:0{version}:00Z",
        "position_version": version,
    }
    return json.dumps(message).encode()


def inputs_of(burst: tuple[SimulatedBurst, dict[str, Path]]) -> dict[str, bytes]:
    """The three input messages of a burst from :func:`simulate_files`."""
    simulated, paths = burst
    mxt = simulated.mxt
    assert mxt is not None
    return {
        "R": product("QSRCLIST_VT", paths["srclist_R"]),
        "B": product("QSRCLIST_VT", paths["srclist_B"]),
        "MXT": position(mxt.ra, mxt.dec, mxt.r90_arcsec),
    }


def deliver(processor: Processor, body: bytes, **kwargs: Any) -> ProcessOutcome:
    """What the consumer does: process, and confirm when the notifications went out."""
    outcome = processor.process(body, **kwargs)
    if outcome.action is Action.ACK:
        processor.confirmed(outcome)
    return outcome


def notification(outcome: ProcessOutcome, index: int = 0) -> dict:
    """One notification of an outcome, as its audience reads it."""
    return json.loads(outcome.notifications[index].body)


def best_of(outcome: ProcessOutcome) -> dict:
    """The first best candidate the outcome's notification names."""
    return notification(outcome)["best_candidates"][0]


def near(candidate: dict, ra: float, dec: float, radius_arcsec: float = 1.0) -> bool:
    """Whether a notified candidate lies within ``radius_arcsec`` of (ra, dec)."""
    offset = np.hypot((candidate["ra"] - ra) * np.cos(np.radians(dec)), candidate["dec"] - dec)
    return bool(offset < radius_arcsec * ARCSEC)


# --- running instances and what they notify ------------------------------------------------------------


class Service:
    """One instance: the real Processor behind the real Consumer, on a background thread."""

    def __init__(self, config: BrokerSettings, processor: Processor, sweep_interval_s: float = 0.0) -> None:
        self.processor = processor
        self.consumer = Consumer(config, processor, sweep_interval_s=sweep_interval_s)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)
        self.thread.start()

    @property
    def acks(self) -> int:
        """Messages this instance acknowledged."""
        return self.consumer.metrics.counters["acks"]

    def stop(self) -> None:
        """Stop consuming, wait for the thread, release the store."""
        self.consumer.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()
        self.processor.store.close()


def collect_until(broker: Broker, done: Callable[[dict[str, list[dict]]], bool]) -> dict[str, list[dict]]:
    """Read both audiences' notifications until ``done`` says enough came."""
    received: dict[str, list[dict]] = {key: [] for key in AUDIENCES}

    def more() -> bool:
        for key in AUDIENCES:
            received[key] += broker.notifications(key)
        return done(received)

    wait_for(more)
    return received


def versions_notified(received: dict[str, list[dict]]) -> dict[str, list[int]]:
    """The product versions each audience was notified of, in arrival order."""
    return {key: [body["product_version"] for body in bodies] for key, bodies in received.items()}


def notified_once_up_to(received: dict[str, list[dict]], final: int) -> list[int]:
    """The versions both audiences received, the same ones, each once, in order, the last being ``final``
    (inputs that came together are built together: the versions before may be folded into a later one)."""
    (versions, *others) = versions_notified(received).values()
    assert all(other == versions for other in others)
    assert versions == sorted(set(versions)) and versions[-1] == final
    return versions


# --- source lists changed, stored as an older VTAC did ----------------------------------------------


def with_tables(source: Path, target: Path, change) -> Path:
    """A copy of a source list with ``change(table_index, data)`` applied to each FINDCH table's rows."""
    with fits.open(source) as hdus:
        tables = [
            fits.BinTableHDU(change(index, hdu.data.copy()), header=hdu.header)
            for index, hdu in enumerate(hdus[1:])
        ]
        fits.HDUList([hdus[0].copy(), *tables]).writeto(target, checksum=True)
    return target


def store_unchecked(processor: Processor, body: bytes, sequences: list[str]) -> None:
    """Record a source list as a VTAC without the arrival checks did (a store from before the upgrade)."""
    message = parse_input(body)
    envelope = {"input": message.model_dump(mode="json"), "sequences": sequences}
    processor.store.record(BURST_ID, message.acronym, message.content_key(), json.dumps(envelope).encode())


def all_off_sky(_: int, rows: Any) -> Any:
    """A :func:`with_tables` change: every source of every table off the sky."""
    rows["RA"] = -1.0
    return rows


# --- a stand-in processor for the consumer's own tests, and the health probes -------------------------


class StandInProcessor:
    """The processor contract in miniature: versions per burst, repeats are no-ops, retries on demand."""

    def __init__(self, *, delay_s: float = 0.0, fold: bool = False) -> None:
        self.delay_s = delay_s
        self.fold = fold  # leave the build to a later input of the burst already in hand, as the processor
        self.deferred: set[str] = set()
        self.retries_left: dict[str, int] = {}
        self.version_of: dict[bytes, tuple[str, int]] = {}
        self.latest: dict[str, int] = {}
        self.confirmed_versions: list[tuple[str | None, int | None]] = []
        self.calls = 0
        self.crash_on_process = 0  # raise on that many calls (a bug in the processor)
        self.crash_on_confirmed = 0  # the state store fails when told the notifications went out

    def process(self, body: bytes, *, newer_waiting: Any = None) -> ProcessOutcome:
        self.calls += 1
        try:
            message = parse_input(body)
        except InputError as error:
            return ProcessOutcome(Action.REJECT, reason=str(error))
        time.sleep(self.delay_s)
        if self.fold and newer_waiting(message.burst_id):
            self.latest[message.burst_id] = self.latest.get(message.burst_id, 0) + 1
            self.deferred.add(message.burst_id)
            return ProcessOutcome(Action.ACK, "built with the next input", burst_id=message.burst_id)
        if self.crash_on_process > 0:
            self.crash_on_process -= 1
            raise RuntimeError("processor bug")
        burst = message.burst_id
        if self.retries_left.get(burst, 0) > 0:
            self.retries_left[burst] -= 1
            return ProcessOutcome(Action.RETRY, reason="SDB answered 503", burst_id=burst)
        key = message.content_key()
        if key not in self.version_of:
            self.latest[burst] = self.latest.get(burst, 0) + 1
            self.version_of[key] = (burst, self.latest[burst])
        burst, version = self.version_of[key]
        if (burst, version) in self.confirmed_versions:
            return ProcessOutcome(Action.ACK, burst_id=burst)  # a repeat: nothing new
        self.deferred.discard(burst)
        return self._outcome(burst, version)

    def build_deferred(self, newer_waiting: Any) -> ProcessOutcome | None:
        for burst in [burst for burst in self.deferred if not newer_waiting(burst)]:
            self.deferred.discard(burst)
            return self._outcome(burst, self.latest[burst])
        return None

    @staticmethod
    def _outcome(burst: str, version: int) -> ProcessOutcome:
        notifications = [
            Notification(
                audience,
                json.dumps({"burst_id": burst, "product_version": version}).encode(),
                f"{burst}:{version}:{audience}",
            )
            for audience in AUDIENCES
        ]
        return ProcessOutcome(
            Action.ACK, burst_id=burst, product_version=version, notifications=notifications
        )

    def confirmed(self, outcome: ProcessOutcome) -> None:
        if self.crash_on_confirmed > 0:
            self.crash_on_confirmed -= 1
            raise OSError("database is locked")
        self.confirmed_versions.append((outcome.burst_id, outcome.product_version))


def http_get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an HTTP error is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def stand_in_mxt(burst_id: str, version: int = 1) -> Any:
    """An MXT position message for the stand-in processor (any circle will do)."""
    return mxt_position_message(212.64, 29.69, 12.5, burst_id=burst_id, position_version=version)
