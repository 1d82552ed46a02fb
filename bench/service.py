"""The service under load: `vtac serve` in a subprocess against the local RabbitMQ, as it runs in production.

Bursts are a few simulated ones re-used under many burst ids (the BURST_ID keyword rewritten, so every
product is a new input). Two phases on one service process:

* latency: each burst's R, B and MXT are published back to back, then the bench waits for its last
  version's notifications on BOTH routing keys; latency = last input published -> both received;
* throughput: the inputs of every burst are published at once; bursts/s = bursts / (first input published
  -> last burst's both notifications received).

Memory is the service's peak RSS (``VmHWM`` of its process) at the end. Those phases run without the extras.

The extras (page, chart, light curves, VOEvent, notice, circular) are then measured by paired runs on the
same bursts: service runs alternately without and with them (fresh state each, six blocks each way, so
that a drift of the shared machine's load hits both), one burst at a time paced like real bursts (the next
starts once the previous one's extras are stored, at least ``PACE_S`` after its last input), after one
warm-up burst per run (not counted). Figures: the
latency as above both ways, and how long after the final notification its extras were stored (the ledger of
the state store says so, with what became of every other announced version).
"""

from __future__ import annotations

import io
import os
import socket
import sqlite3
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

from bench.release import Release
from vtac.service.publish import InputMessage, mxt_position_message, product_message, routing_key
from vtac.service.topology import declare_topology
from vtac.settings import BrokerSettings
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
N_PAIRED = 60  # bursts per mode in the extras comparison, in PAIRED_BLOCKS blocks
PAIRED_BLOCKS = 6  # many short alternating blocks: a drift of the shared machine hits both modes alike
PACE_S = 2.5


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

    def __init__(self, config: BrokerSettings, final_version: int = FINAL_VERSION) -> None:
        self.config = config
        self.final_version = final_version
        self.arrivals: dict[tuple[str, str], float] = {}
        #: Versions notified to the Burst Advocate, by burst (inputs that came together fold into one).
        self.versions: dict[str, set[int]] = {}
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

    def reset(self) -> None:
        """Forget what arrived (the next service run reuses the burst ids)."""
        with self._lock:
            self.arrivals.clear()
            self.versions.clear()

    def notified_per_burst(self, burst_ids: list[str]) -> float:
        """Mean number of versions notified per burst (each a build; 3 when none is folded)."""
        with self._lock:
            return float(np.mean([len(self.versions.get(burst_id, ())) for burst_id in burst_ids]))

    def close(self) -> None:
        """Stop consuming (the exclusive queues go with the connection)."""
        self.stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        channel = connection.channel()
        for key in KEYS:
            queue = channel.queue_declare("", exclusive=True).method.queue
            channel.queue_bind(queue, self.config.notifications_exchange, routing_key=key)
            channel.basic_consume(queue, self._on_message, auto_ack=True)
        self.ready.set()
        while not self.stop.is_set():
            connection.process_data_events(time_limit=0.05)
        connection.close()

    def _on_message(self, _channel, method, properties, _body) -> None:
        now = time.monotonic()
        headers = properties.headers or {}
        with self._lock:
            if method.routing_key == KEYS[0]:
                self.versions.setdefault(headers["burst_id"], set()).add(headers["product_version"])
            if headers.get("product_version") == self.final_version:
                self.arrivals.setdefault((headers["burst_id"], method.routing_key), now)


class Publisher:
    """Publishes inputs with confirms, as `vtac publish` does, on one long-lived connection."""

    def __init__(self, config: BrokerSettings) -> None:
        self.config = config
        self.connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()

    def publish(self, message: InputMessage) -> None:
        """One input, confirmed by the broker before returning."""
        properties = pika.BasicProperties(content_type="application/json", delivery_mode=2)
        body = message.model_dump_json(exclude_none=True).encode()
        self.channel.basic_publish(
            self.config.inputs_exchange, routing_key(message), body, properties, mandatory=True
        )

    def close(self) -> None:
        """Close the publishing connection; one the broker dropped while it sat idle (no heartbeat answered
        during a long wait for notifications) is closed already."""
        with suppress(pika.exceptions.AMQPError):
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
    config: BrokerSettings,
    work: Path,
    *,
    extras: bool = False,
    extra_env: dict[str, str] | None = None,
    release: Release | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """`vtac serve` with VTAC_* settings: local catalogue (unless ``extra_env`` says otherwise), file SDB
    and SQLite store under ``work``; the extras only when asked. With ``release``, that release's service
    (run from ``work``, so that the work tree's package is not imported instead)."""
    catalogs_variable = release.catalogs_variable if release else "VTAC_CATALOGUES__SOURCES"
    port = _free_port()
    env = {
        **os.environ,
        "VTAC_BROKER__URL": BROKER_URL,
        "VTAC_BROKER__INPUTS_EXCHANGE": config.inputs_exchange,
        "VTAC_BROKER__INPUTS_QUEUE": config.inputs_queue,
        "VTAC_BROKER__NOTIFICATIONS_EXCHANGE": config.notifications_exchange,
        "VTAC_BROKER__DEAD_LETTER_EXCHANGE": config.dead_letter_exchange,
        "VTAC_BROKER__DEAD_LETTER_QUEUE": config.dead_letter_queue,
        "VTAC_BROKER__BA_QUEUE": config.ba_queue,
        "VTAC_BROKER__VTPP_QUEUE": config.vtpp_queue,
        "VTAC_STATE_DIR": str(work / "state"),
        catalogs_variable: f"SDSS12={data_path('sdss12_egs_1deg.fits')}",
        "VTAC_HEALTH_PORT": str(port),
        "VTAC_LOG_LEVEL": "WARNING",
        "VTAC_EXTRAS__ENABLED": "true" if extras else "false",
        **(extra_env or {}),
    }
    log = (work / "service.log").open("wb")
    python = str(release.python) if release else sys.executable
    process = subprocess.Popen(
        [python, "-m", "vtac.entrypoints.cli", "serve"], env=env, cwd=work if release else REPO, stderr=log
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


def _bench_config() -> BrokerSettings:
    """Exchanges and queues of this bench run only."""
    uid = uuid.uuid4().hex[:8]
    return BrokerSettings(
        url=BROKER_URL,
        inputs_exchange=f"bench.{uid}.products",
        inputs_queue=f"bench.{uid}.inputs",
        notifications_exchange=f"bench.{uid}.notifications",
        dead_letter_exchange=f"bench.{uid}.dlx",
        dead_letter_queue=f"bench.{uid}.inputs.dead",
        ba_queue="",  # the bench reads the notifications from a queue of its own
        vtpp_queue="",
    )


def _declare(config: BrokerSettings) -> None:
    """The topology before anything is published (the service declares the same at its start)."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    declare_topology(connection.channel(), config)
    connection.close()


def _delete(config: BrokerSettings) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    for queue in (config.inputs_queue, config.retry_queue, config.dead_letter_queue):
        channel.queue_delete(queue)
    for exchange in (config.inputs_exchange, config.notifications_exchange, config.dead_letter_exchange):
        channel.exchange_delete(exchange)
    connection.close()


# --- the two phases -----------------------------------------------------------------------------------------


def measure_latency(publisher: Publisher, listener: Listener, bursts: dict[str, list[InputMessage]]) -> list:
    """One burst at a time: R, B, MXT back to back, then wait for both final notifications."""
    latencies = []
    for burst_id, messages in bursts.items():
        sent, done = send_and_wait(publisher, listener, burst_id, messages)
        latencies.append(done - sent)
    return latencies


def send_and_wait(
    publisher: Publisher, listener: Listener, burst_id: str, messages: list[InputMessage]
) -> tuple[float, float]:
    """Publish one burst's inputs back to back: when the last one went and when both final notifications
    had come (monotonic clock)."""
    for message in messages[:-1]:
        publisher.publish(message)
    sent = time.monotonic()
    publisher.publish(messages[-1])
    listener.wait([burst_id], timeout_s=30)
    done = listener.done_at(burst_id)
    assert done is not None
    return sent, done


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


def bench_service(rng: np.random.Generator, release: Release | None = None) -> dict:
    """Latency p50/p99, sustained bursts/s and peak RSS of one `vtac serve` instance; with ``release``, the
    same figures of that release's service first, on the same bursts (the ratios are the change)."""
    config = _bench_config()
    uid = config.inputs_queue.split(".")[1]
    with tempfile.TemporaryDirectory(prefix="vtac-bench-service-") as folder:
        work = Path(folder)
        templates = make_templates(rng, work)
        _declare(config)
        listener = Listener(config).start()
        publisher = Publisher(config)
        try:
            runs = [("rel", release)] if release else []
            figures = {
                label: _service_figures(
                    config, work / label, (publisher, listener), templates, uid=uid, release=run
                )
                for label, run in [*runs, ("cur", None)]
            }
        finally:
            publisher.close()
            listener.close()
            _delete(config)
    current = figures["cur"]
    if release is not None:
        baseline = figures["rel"]
        current["release"] = {"version": release.version, "commit": release.commit[:12], **baseline}
        current["ratio_to_release"] = {
            key: round(current[key] / baseline[key], 2)
            for key in ("latency_p50_ms", "latency_p99_ms", "bursts_per_s", "service_rss_mb")
        }
    return current


def _service_figures(
    config: BrokerSettings,
    work: Path,
    clients: tuple[Publisher, Listener],
    templates: list[Template],
    *,
    uid: str,
    release: Release | None,
) -> dict:
    """Both phases on one service process (a fresh state under ``work``)."""
    publisher, listener = clients
    label = work.name
    phases = []
    for phase in ("lat", "thr"):
        (work / phase).mkdir(parents=True)
        ids = [f"sb{label}{phase}{uid}{index:03d}" for index in range(N_BURSTS)]
        phases.append(
            {i: burst_inputs(templates[n % N_TEMPLATES], i, work / phase) for n, i in enumerate(ids)}
        )
    with running_service(config, work, release=release) as process:
        latencies = np.array(measure_latency(publisher, listener, phases[0]))
        wall_s = measure_throughput(publisher, listener, phases[1])
        rss_mb = peak_rss_mb(process.pid)
    notified = [round(listener.notified_per_burst(list(phase)), 2) for phase in phases]
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
        "versions_notified_per_burst": {"latency": notified[0], "throughput": notified[1]},
    }


def extras_stored_at(state_db: Path, burst_id: str, timeout_s: float) -> float:
    """When the ledger first said the final version's extras are stored (polled every 5 ms)."""
    deadline = time.monotonic() + timeout_s
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=5) as ledger:
        while time.monotonic() < deadline:
            row = ledger.execute(
                "SELECT status FROM vtac_extras WHERE burst_id = ? AND version = ?", (burst_id, FINAL_VERSION)
            ).fetchone()
            if row is not None and row[0] in ("stored", "failed"):
                if row[0] == "failed":
                    raise RuntimeError(f"extras of {burst_id} failed")
                return time.monotonic()
            time.sleep(0.005)
    raise TimeoutError(f"extras of {burst_id} not stored in {timeout_s} s")


def ledger_counts(state_db: Path, exclude: str) -> dict[str, int]:
    """Versions per extras status (stored, superseded, failed, ...) in one service run's ledger."""
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True) as ledger:
        query = "SELECT status, COUNT(*) FROM vtac_extras WHERE burst_id <> ? GROUP BY status"
        rows = ledger.execute(query, (exclude,)).fetchall()
    return {status: int(count) for status, count in rows}


def measure_paced(
    publisher: Publisher, listener: Listener, bursts: dict[str, list[InputMessage]], state_db: Path | None
) -> tuple[list[float], list[float]]:
    """One burst at a time, paced: latency to both final notifications; with a ledger, extras-ready times."""
    latencies, ready = [], []
    for burst_id, messages in bursts.items():
        sent, done = send_and_wait(publisher, listener, burst_id, messages)
        latencies.append(done - sent)
        if state_db is not None:
            ready.append(extras_stored_at(state_db, burst_id, timeout_s=120) - done)
        time.sleep(max(0.0, sent + PACE_S - time.monotonic()))
    return latencies, ready


def bench_extras(rng: np.random.Generator) -> dict:
    """The notification latency without and with the extras (paired runs, same bursts), and how soon the
    extras are stored after the notification."""
    config = _bench_config()
    with tempfile.TemporaryDirectory(prefix="vtac-bench-extras-") as folder:
        work = Path(folder)
        templates = make_templates(rng, work)
        uid = config.inputs_queue.split(".")[1]
        ids = [f"sbx{uid}{index:03d}" for index in range(N_PAIRED)]
        bursts = {i: burst_inputs(templates[n % N_TEMPLATES], i, work) for n, i in enumerate(ids)}
        warmup = {f"sbw{uid}": burst_inputs(templates[0], f"sbw{uid}", work)}
        blocks = [dict(list(bursts.items())[k::PAIRED_BLOCKS]) for k in range(PAIRED_BLOCKS)]
        figures: dict[bool, dict[str, list[float]]] = {
            mode: {"latency": [], "ready": []} for mode in (False, True)
        }
        counts: dict[str, int] = {}
        _declare(config)
        listener = Listener(config).start()
        publisher = Publisher(config)
        try:
            for index, block in enumerate(blocks):
                for extras in (False, True):
                    run = work / f"run{index}-{'on' if extras else 'off'}"
                    run.mkdir()
                    listener.reset()
                    with running_service(config, run, extras=extras):
                        state_db = run / "state" / "state.db" if extras else None
                        measure_paced(publisher, listener, warmup, state_db)  # first build, worker started
                        latency, ready = measure_paced(publisher, listener, block, state_db)
                    figures[extras]["latency"] += latency
                    figures[extras]["ready"] += ready
                    if state_db is not None:
                        for status, count in ledger_counts(state_db, exclude=next(iter(warmup))).items():
                            counts[status] = counts.get(status, 0) + count
        finally:
            publisher.close()
            listener.close()
            _delete(config)
    return _extras_figures(figures, counts)


def _extras_figures(figures: dict[bool, dict[str, list[float]]], counts: dict[str, int]) -> dict:
    def ms(values: list[float], q: float) -> float:
        return round(float(np.percentile(values, q)) * 1000, 1)

    off, on = figures[False]["latency"], figures[True]["latency"]
    ready = figures[True]["ready"]
    return {
        "bursts": len(on),
        "blocks": PAIRED_BLOCKS,
        "pace_s": PACE_S,
        "off_latency_p50_ms": ms(off, 50),
        "off_latency_p99_ms": ms(off, 99),
        "on_latency_p50_ms": ms(on, 50),
        "on_latency_p99_ms": ms(on, 99),
        "latency_p50_diff_ms": round(ms(on, 50) - ms(off, 50), 1),
        "latency_p99_diff_ms": round(ms(on, 99) - ms(off, 99), 1),
        "ready_p50_s": round(float(np.percentile(ready, 50)), 3),
        "ready_p99_s": round(float(np.percentile(ready, 99)), 3),
        "ready_max_s": round(max(ready), 3),
        "versions_announced": len(on) * FINAL_VERSION,
        "extras_status": counts,
    }


def unchanged_tolerance_ms(extras: dict, targets: dict) -> float:
    """How far the p50 with extras may be from the p50 without: max(10 %, 20 ms) of the latter."""
    return round(
        max(targets["extras_p50_rel"] * extras["off_latency_p50_ms"], targets["extras_p50_abs_ms"]), 1
    )


def extras_summary(extras: dict, targets: dict) -> list[str]:
    """The extras' table for ``bench/results.md``."""
    tolerance = unchanged_tolerance_ms(extras, targets)
    status = ", ".join(f"{count} {name}" for name, count in sorted(extras["extras_status"].items()))
    return [
        "",
        f"## Service with and without the extras: {extras['bursts']} bursts x R, B, MXT each way",
        "",
        f"Paired `vtac serve` runs on the same bursts, {extras['blocks']} alternating blocks each way, "
        f"one burst at a time every >= {extras['pace_s']} s and after the previous one's extras. "
        '"Unchanged" = the p50 with extras within max(10 %, 20 ms) of the p50 without '
        f"(here {tolerance} ms).",
        "",
        "| figure | without extras | with extras | difference | target |",
        "|---|---:|---:|---:|---:|",
        f"| latency p50, last input -> both notifications | {extras['off_latency_p50_ms']} ms "
        f"| {extras['on_latency_p50_ms']} ms | {extras['latency_p50_diff_ms']:+} ms | <= +{tolerance} ms |",
        f"| latency p99 | {extras['off_latency_p99_ms']} ms | {extras['on_latency_p99_ms']} ms "
        f"| {extras['latency_p99_diff_ms']:+} ms | |",
        f"| extras stored after the final notification, p50 | | {extras['ready_p50_s']} s | "
        f"| <= {targets['extras_ready_s']} s |",
        f"| extras stored after the final notification, p99 | | {extras['ready_p99_s']} s | "
        f"| <= {targets['extras_ready_s']} s |",
        f"| announced versions ({extras['versions_announced']}) by ledger status | | {status} | | "
        "none missing, none failed |",
    ]


def extras_failures(extras: dict, targets: dict) -> list[str]:
    """Missed targets of the extras comparison."""
    failures = []
    if extras["latency_p50_diff_ms"] > unchanged_tolerance_ms(extras, targets):
        failures.append(f"extras cost the notification p50 {extras['latency_p50_diff_ms']} ms")
    failures += [
        f"extras ready {key} {extras[key]} s"
        for key in ("ready_p50_s", "ready_p99_s")
        if extras[key] > targets["extras_ready_s"]
    ]
    accounted = sum(count for status, count in extras["extras_status"].items() if status != "failed")
    if extras["extras_status"].get("failed") or accounted != extras["versions_announced"]:
        announced = extras["versions_announced"]
        failures.append(f"extras ledger {extras['extras_status']} for {announced} versions")
    return failures


def service_summary(service: dict, targets: dict) -> list[str]:
    """The service's table for ``bench/results.md`` (with the release's figures when measured)."""
    release = service.get("release")
    head = ["| figure | measured | target |", "|---|---:|---:|"]
    if release:
        head = [
            f"| figure | measured | release {release['version']} ({release['commit']}) | ratio | target |",
            "|---|---:|---:|---:|---:|",
        ]
    rows = [
        (
            "latency p50, last input -> both notifications",
            "latency_p50_ms",
            "ms",
            f"<= {targets['service_p50_ms']} ms",
        ),
        ("latency p99", "latency_p99_ms", "ms", f"<= {targets['service_p99_ms']} ms"),
        (
            "sustained, all inputs at once",
            "bursts_per_s",
            "bursts/s",
            f">= {targets['service_bursts_per_s_min']} bursts/s",
        ),
        ("service peak RSS (VmHWM)", "service_rss_mb", "MB", _rss_target(targets)),
    ]
    lines = []
    for text, key, unit, target in rows:
        middle = f" {release[key]} {unit} | {service['ratio_to_release'][key]} |" if release else ""
        lines.append(f"| {text} | {service[key]} {unit} |{middle} {target} |")
    for phase, text in (("latency", "one burst at a time"), ("throughput", "all at once")):
        now = service["versions_notified_per_burst"][phase]
        before = release.get("versions_notified_per_burst", {}).get(phase, "-") if release else None
        middle = f" {before} | |" if release else ""
        lines.append(f"| versions notified per burst ({text}; 3 = none folded) | {now} |{middle} |")
    return [
        "",
        f"## Service: `vtac serve`, {service['bursts']} bursts x R, B, MXT "
        "(local catalogue, file SDB, SQLite; without the extras)",
        "",
        *head,
        *lines,
    ]


def _rss_target(targets: dict) -> str:
    return f"<= {targets['service_rss_mb']} MB and <= the release's x {targets['rss_vs_release_max']}"


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
    ratio = service.get("ratio_to_release", {}).get("service_rss_mb")
    if ratio is not None and ratio > targets["rss_vs_release_max"]:
        failures.append(f"service peak RSS {ratio} x the release's")
    return failures


if __name__ == "__main__":  # pragma: no cover
    import json

    print(json.dumps(bench_extras(np.random.default_rng(20261123)), indent=2))
