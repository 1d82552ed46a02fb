"""The service under load: `vtac serve` in a subprocess against the local RabbitMQ, as it runs in production.

Bursts are a few simulated ones re-used under many burst ids (the BURST_ID keyword rewritten, so every
product is a new input). Two phases on one service process:

* latency: each burst's R, B and MXT are published back to back, then the bench waits for its last
  version's notifications on BOTH routing keys; latency = last input published -> both received;
* throughput: the inputs of every burst are published at once; bursts/s = bursts / (first input published
  -> last burst's both notifications received).

Memory is the service's peak RSS (``VmHWM`` of its process) at the end.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pika
from astropy.io import fits

from vtac.service.amqp import AmqpConfig, declare_topology
from vtac.service.publish import InputMessage, mxt_position_message, product_message, routing_key
from vtac.simulation import load_demo_sky, simulate_burst
from vtac.simulation.sky import DEMO_CENTRE, afterglow_burst_spec, data_path

BROKER_URL = os.environ.get("VTAC_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
N_BURSTS = 200
N_TEMPLATES = 4
HALF_WIDTH_ARCMIN = 3.0
FINAL_VERSION = 3  # R, B, MXT: three changes
KEYS = ("qpo_vt.ba", "qpo_vt.vtpp")
PRODUCT_TIME = datetime(2026, 5, 9, 22, 1, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Template:
    """One simulated burst: its two source lists (FITS bytes) and its MXT circle."""

    srclists: dict[str, bytes]
    mxt: tuple[float, float, float]


def make_templates(rng: np.random.Generator, work: Path) -> list[Template]:
    """A few distinct simulated bursts on the packaged SDSS field."""
    sky = load_demo_sky()
    templates = []
    for index in range(N_TEMPLATES):
        ra, dec = DEMO_CENTRE[0] + rng.uniform(-0.1, 0.1), DEMO_CENTRE[1] + rng.uniform(-0.1, 0.1)
        spec = afterglow_burst_spec(
            ra, dec, f"sbtemplate{index}", half_width_arcmin=HALF_WIDTH_ARCMIN, mxt_r90_arcsec=60.0
        )
        simulated = simulate_burst(sky, spec, rng)
        paths = simulated.write(work / f"template{index}")
        assert simulated.mxt is not None
        templates.append(
            Template(
                {band: paths[f"srclist_{band}"].read_bytes() for band in "RB"},
                (simulated.mxt.ra, simulated.mxt.dec, simulated.mxt.r90_arcsec),
            )
        )
    return templates


def with_burst_id(content: bytes, burst_id: str) -> bytes:
    """The same FITS file under another burst id (every header that names one)."""
    with fits.open(io.BytesIO(content)) as hdus:
        for hdu in hdus:
            if "BURST_ID" in hdu.header:
                hdu.header["BURST_ID"] = burst_id
        out = io.BytesIO()
        hdus.writeto(out, checksum=True)
    return out.getvalue()


def burst_inputs(template: Template, burst_id: str, work: Path) -> list[InputMessage]:
    """R, B and the MXT position of one burst, as upstream publishes them."""
    messages: list[InputMessage] = []
    for band in "RB":
        path = work / f"QSRCLIST_VT_{band}_{burst_id}.fits"
        path.write_bytes(with_burst_id(template.srclists[band], burst_id))
        messages.append(
            product_message(path, acronym="QSRCLIST_VT", burst_id=burst_id, product_time=PRODUCT_TIME)
        )
    ra, dec, r90 = template.mxt
    messages.append(mxt_position_message(ra, dec, r90, burst_id=burst_id, position_time=PRODUCT_TIME))
    return messages


# --- the broker side ----------------------------------------------------------------------------------------


class Listener:
    """Notifications on both routing keys, on a thread of its own: when each burst's final version arrived."""

    def __init__(self, config: AmqpConfig) -> None:
        self.config = config
        self.arrivals: dict[tuple[str, str], float] = {}
        self.ready = threading.Event()
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Listener:
        """Consume on a thread; return once both queues are bound (nothing published before is missed)."""
        self._thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("notification listener did not start")
        return self

    def done_at(self, burst_id: str) -> float | None:
        """When the last of the two final notifications of a burst arrived (None: not yet)."""
        with self._lock:
            times = [self.arrivals.get((burst_id, key)) for key in KEYS]
        return None if None in times else max(t for t in times if t is not None)

    def wait(self, burst_ids: list[str], timeout_s: float) -> None:
        """Until every burst's final notifications came; polls at 1 ms so the figures are not rounded up."""
        deadline = time.monotonic() + timeout_s
        while any(self.done_at(burst_id) is None for burst_id in burst_ids):
            if time.monotonic() > deadline:
                raise TimeoutError("notifications did not all arrive in time")
            time.sleep(0.001)

    def close(self) -> None:
        """Stop consuming (the exclusive queues go with the connection)."""
        self.stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        channel = connection.channel()
        for key in KEYS:
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, self.config.notification_exchange, routing_key=key)
            channel.basic_consume(queue, self._on_message, auto_ack=True)
        self.ready.set()
        while not self.stop.is_set():
            connection.process_data_events(time_limit=0.05)
        connection.close()

    def _on_message(self, _channel, method, properties, _body) -> None:
        now = time.monotonic()
        headers = properties.headers or {}
        if headers.get("product_version") == FINAL_VERSION:
            with self._lock:
                self.arrivals.setdefault((headers["burst_id"], method.routing_key), now)


class Publisher:
    """Publishes inputs with confirms, as `vtac publish` does, on one long-lived connection."""

    def __init__(self, config: AmqpConfig) -> None:
        self.config = config
        self.connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def publish(self, message: InputMessage) -> None:
        """One input, confirmed by the broker before returning."""
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        body = message.model_dump_json(exclude_none=True).encode()
        self.channel.basic_publish(
            self.config.input_exchange, routing_key(message), body, properties, mandatory=True
        )

    def close(self) -> None:
        """Close the publishing connection."""
        self.connection.close()


# --- the service process ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ready(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/ready"
    with suppress(OSError), urllib.request.urlopen(url, timeout=1) as answer:
        return bool(answer.status == 200)
    return False


@contextmanager
def running_service(
    config: AmqpConfig, work: Path, extra_env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """`vtac serve` with VTAC_* settings: local catalogue (unless ``extra_env`` says otherwise), file SDB
    and SQLite store under ``work``."""
    port = _free_port()
    env = {
        **os.environ,
        "VTAC_AMQP_URL": BROKER_URL,
        "VTAC_INPUTS_EXCHANGE": config.input_exchange,
        "VTAC_INPUTS_QUEUE": config.input_queue,
        "VTAC_NOTIFICATIONS_EXCHANGE": config.notification_exchange,
        "VTAC_DEAD_LETTER_EXCHANGE": config.dead_letter_exchange,
        "VTAC_DEAD_LETTER_QUEUE": config.dead_letter_queue,
        "VTAC_BA_QUEUE": config.ba_queue,
        "VTAC_VTPP_QUEUE": config.vtpp_queue,
        "VTAC_STATE_DIR": str(work / "state"),
        "VTAC_CATALOGS": f"SDSS12={data_path('sdss12_egs_1deg.fits')}",
        "VTAC_HEALTH_PORT": str(port),
        "VTAC_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    log = (work / "service.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "vtac.entrypoints.cli", "serve"], env=env, cwd=REPO, stderr=log
    )
    try:
        deadline = time.monotonic() + 30
        while not _ready(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"vtac serve did not become ready; see {work / 'service.log'}")
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def peak_rss_mb(pid: int) -> float:
    """The process's high-water resident set (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM")


def _declare(config: AmqpConfig) -> None:
    """The topology before anything is published (the service declares the same at its start)."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    declare_topology(connection.channel(), config)
    connection.close()


def _delete(config: AmqpConfig) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    for queue in (config.input_queue, config.retry_queue, config.dead_letter_queue):
        channel.queue_delete(queue)
    for exchange in (config.input_exchange, config.notification_exchange, config.dead_letter_exchange):
        channel.exchange_delete(exchange)
    connection.close()


# --- the two phases -----------------------------------------------------------------------------------------


def measure_latency(publisher: Publisher, listener: Listener, bursts: dict[str, list[InputMessage]]) -> list:
    """One burst at a time: R, B, MXT back to back, then wait for both final notifications."""
    latencies = []
    for burst_id, messages in bursts.items():
        for message in messages[:-1]:
            publisher.publish(message)
        sent = time.monotonic()
        publisher.publish(messages[-1])
        listener.wait([burst_id], timeout_s=30)
        done = listener.done_at(burst_id)
        assert done is not None
        latencies.append(done - sent)
    return latencies


def measure_throughput(
    publisher: Publisher, listener: Listener, bursts: dict[str, list[InputMessage]]
) -> float:
    """Every burst's inputs at once; the wall time until the last burst's notifications arrived."""
    start = time.monotonic()
    for messages in bursts.values():
        for message in messages:
            publisher.publish(message)
    listener.wait(list(bursts), timeout_s=300)
    done = max(t for burst_id in bursts if (t := listener.done_at(burst_id)) is not None)
    return done - start


def bench_service(rng: np.random.Generator) -> dict:
    """Latency p50/p99, sustained bursts/s and peak RSS of one `vtac serve` instance."""
    uid = uuid.uuid4().hex[:8]
    config = AmqpConfig(
        url=BROKER_URL,
        input_exchange=f"bench.{uid}.products",
        input_queue=f"bench.{uid}.inputs",
        notification_exchange=f"bench.{uid}.notifications",
        dead_letter_exchange=f"bench.{uid}.dlx",
        dead_letter_queue=f"bench.{uid}.inputs.dead",
        ba_queue="",  # the bench reads the notifications from a queue of its own
        vtpp_queue="",
    )
    with tempfile.TemporaryDirectory(prefix="vtac-bench-service-") as folder:
        work = Path(folder)
        templates = make_templates(rng, work)
        phases = []
        for phase in ("lat", "thr"):
            (work / phase).mkdir()
            ids = [f"sb{phase}{uid}{index:03d}" for index in range(N_BURSTS)]
            phases.append(
                {i: burst_inputs(templates[n % N_TEMPLATES], i, work / phase) for n, i in enumerate(ids)}
            )
        _declare(config)
        listener = Listener(config).start()
        publisher = Publisher(config)
        try:
            with running_service(config, work) as process:
                latencies = np.array(measure_latency(publisher, listener, phases[0]))
                wall_s = measure_throughput(publisher, listener, phases[1])
                rss_mb = peak_rss_mb(process.pid)
        finally:
            publisher.close()
            listener.close()
            _delete(config)
    return {
        "bursts": N_BURSTS,
        "inputs_per_burst": FINAL_VERSION,
        "field_half_width_arcmin": HALF_WIDTH_ARCMIN,
        "latency_p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
        "latency_p99_ms": round(float(np.percentile(latencies, 99)) * 1000, 1),
        "latency_max_ms": round(float(latencies.max()) * 1000, 1),
        "throughput_wall_s": round(wall_s, 2),
        "bursts_per_s": round(N_BURSTS / wall_s, 2),
        "service_rss_mb": rss_mb,
    }


def service_summary(service: dict, targets: dict) -> list[str]:
    """The service's table for ``bench/results.md``."""
    return [
        "",
        f"## Service: `vtac serve`, {service['bursts']} bursts x R, B, MXT "
        "(local catalogue, file SDB, SQLite)",
        "",
        "| figure | measured | target |",
        "|---|---:|---:|",
        f"| latency p50, last input -> both notifications | {service['latency_p50_ms']} ms "
        f"| <= {targets['service_p50_ms']} ms |",
        f"| latency p99 | {service['latency_p99_ms']} ms | <= {targets['service_p99_ms']} ms |",
        f"| sustained, all inputs at once | {service['bursts_per_s']} bursts/s "
        f"| >= {targets['service_bursts_per_s_min']} bursts/s |",
        f"| service peak RSS (VmHWM) | {service['service_rss_mb']} MB | <= {targets['service_rss_mb']} MB |",
    ]


def service_failures(service: dict, targets: dict) -> list[str]:
    """Missed targets, one line each (the targets themselves live in ``bench/run.py``)."""
    failures = [
        f"service {key} {service[key]}"
        for key, target in (
            ("latency_p50_ms", "service_p50_ms"),
            ("latency_p99_ms", "service_p99_ms"),
            ("service_rss_mb", "service_rss_mb"),
        )
        if service[key] > targets[target]
    ]
    if service["bursts_per_s"] < targets["service_bursts_per_s_min"]:
        failures.append(f"service {service['bursts_per_s']} bursts/s")
    return failures


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(bench_service(np.random.default_rng(20261123)), indent=2))
