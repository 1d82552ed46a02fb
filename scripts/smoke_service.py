"""Smoke test of the full image: `vtac serve` in a container against the local RabbitMQ (host network).

Publishes a simulated burst (R and B source lists, MXT position) with `vtac publish` from the host, then
waits for both QPO_VT notifications and checks the product landed in the container's file SDB. Uses its own
exchange and queue names, removed at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pika

from vtac.simulation.burst import simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, load_demo_sky

IMAGE = "localhost/vtac-full:latest"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
PREFIX = f"vtac.smoke.{os.getpid()}"
BURST = "sb26112399"
CATALOG = "SDSS12=/opt/vtac/lib/python3.11/site-packages/vtac/data/sdss12_egs_1deg.fits"
NAMES = {
    "VTAC_INPUTS_EXCHANGE": f"{PREFIX}.products",
    "VTAC_INPUTS_QUEUE": f"{PREFIX}.inputs",
    "VTAC_NOTIFICATIONS_EXCHANGE": f"{PREFIX}.notifications",
    "VTAC_DEAD_LETTER_EXCHANGE": f"{PREFIX}.dlx",
    "VTAC_DEAD_LETTER_QUEUE": f"{PREFIX}.dead",
    "VTAC_BA_QUEUE": "",  # read from a queue of our own below
    "VTAC_VTPP_QUEUE": "",
}


def main() -> int:
    env = {**os.environ, **NAMES, "VTAC_AMQP_URL": AMQP_URL}
    container = f"vtac-smoke-{os.getpid()}"
    settings = [f"--env={key}={value}" for key, value in NAMES.items()]
    settings += [
        f"--env=VTAC_AMQP_URL={AMQP_URL}",
        f"--env=VTAC_CATALOGS={json.dumps([CATALOG])}",
        "--env=VTAC_HEALTH_PORT=18181",
    ]
    subprocess.run(
        ["podman", "run", "-d", "--name", container, "--network=host", *settings, IMAGE], check=True
    )
    channel = pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()
    try:
        notifications = _listen(channel)
        _wait_ready()
        _publish_burst(env)
        received = _receive(channel, notifications, expected=2, timeout_s=60.0)
        listing = subprocess.run(
            ["podman", "exec", container, "find", "/var/lib/vtac", "-name", "*QPO_VT*"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert {message["burst_id"] for message in received} == {BURST}, received
        assert "QPO_VT" in listing, listing
        print(f"SMOKE full image: 2 notifications for {BURST}, product stored: {listing.split()[0]}")
        return 0
    finally:
        subprocess.run(["podman", "logs", "--tail", "5", container], check=False)
        subprocess.run(["podman", "rm", "-f", container], check=False, capture_output=True)
        for exchange in (
            NAMES["VTAC_INPUTS_EXCHANGE"],
            NAMES["VTAC_NOTIFICATIONS_EXCHANGE"],
            NAMES["VTAC_DEAD_LETTER_EXCHANGE"],
        ):
            channel.exchange_delete(exchange)
        for queue in (
            NAMES["VTAC_INPUTS_QUEUE"],
            f"{NAMES['VTAC_INPUTS_QUEUE']}.retry",
            f"{NAMES['VTAC_INPUTS_QUEUE']}.delay",
            NAMES["VTAC_DEAD_LETTER_QUEUE"],
        ):
            channel.queue_delete(queue)


def _listen(channel) -> str:
    channel.exchange_declare(NAMES["VTAC_NOTIFICATIONS_EXCHANGE"], "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, NAMES["VTAC_NOTIFICATIONS_EXCHANGE"], "#")
    return queue


def _wait_ready(timeout_s: float = 60.0) -> None:
    import urllib.request  # pylint: disable=import-outside-toplevel

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen("http://127.0.0.1:18181/ready", timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("the service never became ready")


def _publish_burst(env: dict[str, str]) -> None:
    ra, dec = DEMO_CENTRE
    spec = afterglow_burst_spec(ra, dec, BURST, half_width_arcmin=3.0, mxt_r90_arcsec=60.0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = simulate_burst(load_demo_sky(), spec, np.random.default_rng(5)).write(Path(tmp))
        vtac = [sys.executable, "-m", "vtac.entrypoints.cli", "publish", "--burst-id", BURST]
        for band in "RB":
            subprocess.run(
                [*vtac, str(paths[f"srclist_{band}"]), "--acronym", "QSRCLIST_VT"], env=env, check=True
            )
        subprocess.run([*vtac, str(paths["mxt"]), "--acronym", "QPO_MXT"], env=env, check=True)


def _receive(channel, queue: str, expected: int, timeout_s: float) -> list[dict]:
    received: list[dict] = []
    deadline = time.monotonic() + timeout_s
    while len(received) < expected and time.monotonic() < deadline:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            time.sleep(0.2)
            continue
        received.append(json.loads(body))
    if len(received) < expected:
        raise TimeoutError(f"{len(received)} of {expected} notifications in {timeout_s} s")
    return received


if __name__ == "__main__":
    sys.exit(main())
