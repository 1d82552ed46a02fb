"""Smoke test of the full image: `vtac serve` in a container against the local RabbitMQ (host network).

Checks the image carries its HEALTHCHECK (docker format) and that the check turns the container healthy,
publishes a simulated burst (R and B source lists, MXT position) with `vtac publish` from the host, then
waits for both QPO_VT notifications and checks the product landed in the container's file SDB. Uses its own
exchange and queue names, removed at the end with the container and its state volume.
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

IMAGE = f"localhost/vtac-full:{os.environ['IMAGE_TAG']}"
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
PREFIX = f"vtac.smoke.{os.getpid()}"
BURST = "sb26112399"
HEALTH_PORT = 18181
CATALOG = "SDSS12=/opt/vtac/lib/python3.11/site-packages/vtac/data/sdss12_egs_1deg.fits"
NAMES = {
    "VTAC_BROKER__INPUTS_EXCHANGE": f"{PREFIX}.products",
    "VTAC_BROKER__INPUTS_QUEUE": f"{PREFIX}.inputs",
    "VTAC_BROKER__NOTIFICATIONS_EXCHANGE": f"{PREFIX}.notifications",
    "VTAC_BROKER__DEAD_LETTER_EXCHANGE": f"{PREFIX}.dlx",
    "VTAC_BROKER__DEAD_LETTER_QUEUE": f"{PREFIX}.dead",
    "VTAC_BROKER__BA_QUEUE": "",  # read from a queue of our own below
    "VTAC_BROKER__VTPP_QUEUE": "",
}


def main() -> int:
    env = {**os.environ, **NAMES, "VTAC_BROKER__URL": AMQP_URL}
    container = f"vtac-smoke-{os.getpid()}"
    settings = [f"--env={key}={value}" for key, value in NAMES.items()]
    settings += [
        f"--env=VTAC_BROKER__URL={AMQP_URL}",
        f"--env=VTAC_CATALOGUES__SOURCES={json.dumps([CATALOG])}",
        f"--env=VTAC_HEALTH_PORT={HEALTH_PORT}",
    ]
    healthcheck = _podman("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE)
    assert "/live" in healthcheck, f"{IMAGE} has no HEALTHCHECK (built as OCI?): {healthcheck}"
    channel = _connect()
    try:
        _podman("run", "-d", "--name", container, "--network=host", *settings, IMAGE)
        notifications = _listen(channel)
        _wait_ready()
        _wait_healthy(container)
        _publish_burst(env)
        received = _receive(channel, notifications, expected=2, timeout_s=60.0)
        listing = _podman("exec", container, "find", "/var/lib/vtac", "-name", "*QPO_VT*")
        assert {message["burst_id"] for message in received} == {BURST}, received
        assert "QPO_VT" in listing, listing
        print(f"SMOKE full image: healthy, 2 notifications for {BURST}, product stored: {listing.split()[0]}")
        return 0
    finally:
        subprocess.run(["podman", "logs", "--tail", "5", container], check=False)
        # -v: the state volume (VOLUME /var/lib/vtac) goes with the container
        subprocess.run(["podman", "rm", "-f", "-v", container], check=False, capture_output=True)
        for exchange in (
            NAMES["VTAC_BROKER__INPUTS_EXCHANGE"],
            NAMES["VTAC_BROKER__NOTIFICATIONS_EXCHANGE"],
            NAMES["VTAC_BROKER__DEAD_LETTER_EXCHANGE"],
        ):
            channel.exchange_delete(exchange)
        for queue in (
            NAMES["VTAC_BROKER__INPUTS_QUEUE"],
            f"{NAMES['VTAC_BROKER__INPUTS_QUEUE']}.retry",
            f"{NAMES['VTAC_BROKER__INPUTS_QUEUE']}.delay",
            NAMES["VTAC_BROKER__DEAD_LETTER_QUEUE"],
        ):
            channel.queue_delete(queue)


def _connect():
    """The host's broker, before any container is started (nothing to clean up if it is missing)."""
    try:
        return pika.BlockingConnection(pika.URLParameters(AMQP_URL)).channel()
    except pika.exceptions.AMQPConnectionError as error:
        sys.exit(f"the full image's smoke test needs RabbitMQ at {AMQP_URL} (guest/guest): {error!r}")


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def _wait_healthy(container: str, timeout_s: float = 30.0) -> None:
    """Runs the image's HEALTHCHECK (no systemd timer here) until podman records the container healthy."""
    deadline = time.monotonic() + timeout_s
    status = ""
    while time.monotonic() < deadline:
        subprocess.run(["podman", "healthcheck", "run", container], check=False, capture_output=True)
        status = _podman("inspect", "--format", "{{.State.Health.Status}}", container).strip()
        if status == "healthy":
            return
        time.sleep(1.0)
    raise TimeoutError(f"the container's health is {status!r}, not healthy, after {timeout_s} s")


def _listen(channel) -> str:
    channel.exchange_declare(NAMES["VTAC_BROKER__NOTIFICATIONS_EXCHANGE"], "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, NAMES["VTAC_BROKER__NOTIFICATIONS_EXCHANGE"], "#")
    return queue


def _wait_ready(timeout_s: float = 60.0) -> None:
    import urllib.request  # pylint: disable=import-outside-toplevel

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{HEALTH_PORT}/ready", timeout=2)
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
