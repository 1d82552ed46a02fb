"""The service tests' shared rig: a simulated burst as upstream sends it, one running instance (the real
Processor behind the real Consumer), and readers of the notifications both audiences receive."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from real_services import Broker, wait_for

from vtac.service.consumer import Consumer
from vtac.service.processor import Processor
from vtac.service.publish import InputMessage, mxt_position_message, product_message
from vtac.settings import BrokerSettings
from vtac.simulation import simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, data_path

SDSS = f"SDSS12={data_path('sdss12_egs_1deg.fits')}"
BURST_ID = "sb26050906"
AUDIENCES = {"qpo_vt.ba": "ba", "qpo_vt.vtpp": "vtpp"}
PRODUCT_TIME = datetime(2026, 5, 9, 22, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Burst:
    """A simulated burst as upstream would send it: R and B source lists and the MXT position."""

    burst_id: str
    inputs: dict[str, InputMessage]
    afterglow: tuple[float, float]


def simulate(sky, folder: Path, burst_id: str) -> Burst:
    """An afterglow on the real SDSS field, in a small (3') field so that each build is quick."""
    ra, dec = DEMO_CENTRE[0] + 0.05, DEMO_CENTRE[1] - 0.05
    spec = afterglow_burst_spec(ra, dec, burst_id, half_width_arcmin=3.0, mxt_r90_arcsec=60.0)
    simulated = simulate_burst(sky, spec, np.random.default_rng(7))
    paths = simulated.write(folder)
    mxt, glow = simulated.mxt, simulated.truth.afterglow
    assert mxt is not None and glow is not None
    lists = {
        band: product_message(
            paths[f"srclist_{band}"], acronym="QSRCLIST_VT", burst_id=burst_id, product_time=PRODUCT_TIME
        )
        for band in "RB"
    }
    position = mxt_position_message(
        mxt.ra, mxt.dec, mxt.r90_arcsec, burst_id=burst_id, position_time=PRODUCT_TIME
    )
    return Burst(burst_id, {**lists, "MXT": position}, (glow.ra, glow.dec))


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
