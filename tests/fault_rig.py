"""A RabbitMQ node and a PostgreSQL cluster of the test's own (other ports, temporary directories), and
`vtac serve` processes on them, so that faults can be injected without touching the shared services.

Used by tests/system/test_faults.py (``make test``, representative sizes) and ``make reliability`` (heavier).
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pika
from paths import REPO

from vtac.settings import BrokerSettings

PG_BIN = Path(os.environ.get("VTAC_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tools_available() -> bool:
    """initdb/pg_ctl, rabbitmq-server and the users to run them as."""
    return (
        (PG_BIN / "initdb").exists()
        and shutil.which("rabbitmq-server") is not None
        and shutil.which("runuser") is not None
    )


class PostgresCluster:
    """initdb + pg_ctl as the postgres user, trust auth, fsync off; restartable."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vtac-fault-pg-"))
        shutil.chown(self.folder, "postgres")
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres(PG_BIN / "initdb", "-D", self.folder / "data", "-A", "trust", "-U", "postgres")
        self.start()

    def _as_postgres(self, *command: Any) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *map(str, command)],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres(
            PG_BIN / "pg_ctl",
            "-D",
            self.folder / "data",
            "-l",
            self.folder / "log",
            "-o",
            options,
            "-w",
            *args,
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class BrokerNode:
    """A RabbitMQ node of its own (name, ports, data directories), no plugins."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="vtac-fault-rmq-"))
        self.port = free_port()
        self.name = f"vtacfault{os.getpid()}x{self.port}@localhost"
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"
        (self.folder / "enabled_plugins").write_text("[].\n")
        (self.folder / "rabbitmq.conf").write_text(f"listeners.tcp.default = {self.port}\n")
        for path in [self.folder, *self.folder.iterdir()]:
            shutil.chown(path, "rabbitmq")
        self.env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.folder / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.folder / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq"),
        }
        subprocess.run(["rabbitmq-server", "-detached"], env=self.env, check=True, capture_output=True)
        self.ctl("wait", str(self.folder / "pid"), "--timeout", "60")

    def ctl(self, *args: str) -> None:
        subprocess.run(["rabbitmqctl", "-n", self.name, *args], env=self.env, check=True, capture_output=True)

    def restart(self, down_s: float = 1.0) -> None:
        """Stop and start the broker application: every connection drops, durable queues stay."""
        self.ctl("stop_app")
        time.sleep(down_s)
        self.ctl("start_app")

    def destroy(self) -> None:
        try:
            self.ctl("stop")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


class FlakyFileServer:
    """An HTTP SDB stand-in: GET serves the input files under ``folder`` (inputs by reference), PUT stores a
    product in memory (201; the service's SDB_URL may point here too); ``down`` answers 503 to both."""

    def __init__(self, folder: Path) -> None:
        self.down = False
        self.stored: dict[str, int] = {}  # path -> bytes of every product PUT
        self.refused = Counter[str]()  # method -> requests answered 503
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, directory=str(folder), **kwargs)

            def _refused(self) -> bool:
                if outer.down:
                    outer.refused[self.command] += 1
                    self.send_error(503)
                return outer.down

            def do_GET(self) -> None:
                if not self._refused():
                    super().do_GET()

            def do_PUT(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                if self._refused():
                    return
                outer.stored[self.path] = length
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Service:
    """`vtac serve` in a subprocess; its peak RSS is read from /proc before it ends."""

    env: dict[str, str]
    health_port: int
    process: subprocess.Popen | None = None
    peak_rss_kb: int = 0

    def start(self) -> Service:
        """Start it; its log lines go to ``service-<port>.log`` in its state directory."""
        state_dir = Path(self.env["VTAC_STATE_DIR"])
        state_dir.mkdir(parents=True, exist_ok=True)
        with (state_dir / f"service-{self.health_port}.log").open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vtac.entrypoints.cli", "serve"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def sample_rss(self) -> None:
        if self.process is None:
            return
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except OSError:
            pass

    def probe(self, path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}{path}", timeout=2) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)
        except OSError:
            return 0

    def kill(self) -> None:
        """SIGKILL: no grace, whatever is in flight."""
        assert self.process is not None
        self.sample_rss()
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        assert self.process is not None
        self.sample_rss()
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def service_env(
    broker: BrokerNode, postgres: PostgresCluster, state_dir: Path, catalog: str, **extra: str
) -> dict:
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("VTAC_")},
        "VTAC_BROKER__URL": broker.url,
        "VTAC_STATE_URL": postgres.url,
        "VTAC_STATE_DIR": str(state_dir),
        "VTAC_CATALOGUES__SOURCES": catalog,
        "VTAC_LOG_LEVEL": "WARNING",
        # Every other setting at its default (retry delays, heartbeat, extras on): the timings the faults
        # meet in operations.
        **extra,
    }
    return env


def new_service(env: dict[str, str]) -> Service:
    """A service on ``env`` with a health port of its own: instances sharing one would leave one of them
    exiting at start (port in use) while the other answered both probes."""
    health_port = free_port()
    return Service(env | {"VTAC_HEALTH_PORT": str(health_port)}, health_port).start()


@dataclass
class Tally:
    """What one fault class did to the bursts: the figures of bench/reliability.md."""

    name: str
    inputs: int = 0
    hostile: int = 0
    dead_lettered: int = 0
    stored: int = 0
    expected: int = 0
    notified: int = 0
    folded: int = 0
    lost: int = 0
    duplicated: int = 0
    peak_rss_mb: float = 0.0
    service_up: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def row(self) -> str:
        return (
            f"| {self.name} | {self.inputs} | {self.hostile} | {self.dead_lettered} | {self.stored} | "
            f"{self.notified} | {self.folded} | {self.lost} | {self.duplicated} | {self.peak_rss_mb:.0f} | "
            f"{'yes' if self.service_up else 'NO'} | {self.seconds:.0f} |"
        )


HEADER = (
    "| fault class | good inputs | hostile messages | dead-lettered | inputs stored | versions notified | "
    "folded | lost | duplicated | peak RSS (MB) | service up | s |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|"
)


class Observer:
    """The test's view of the node: a durable queue of every notification, the dead-letter queue depth;
    exchanges, queues and headers named by the service's broker settings (``config``)."""

    NOTIFIED = "fault.notified"

    def __init__(self, broker: BrokerNode, config: BrokerSettings) -> None:
        self.broker = broker
        self.config = config
        self.seen: Counter[tuple[str, int, str]] = Counter()
        self._connect()
        channel = self.channel
        channel.exchange_declare(config.notifications_exchange, exchange_type="topic", durable=True)
        channel.queue_declare(self.NOTIFIED, durable=True)
        channel.queue_bind(self.NOTIFIED, config.notifications_exchange, routing_key="qpo_vt.#")
        channel.queue_declare(config.dead_letter_queue, durable=True)

    def _connect(self) -> None:
        self.connection = pika.BlockingConnection(pika.URLParameters(self.broker.url))
        self.channel = self.connection.channel()

    def drain(self) -> None:
        """Take every notification waiting (reconnecting after a broker restart)."""
        for _ in range(3):
            try:
                while True:
                    method, _, body = self.channel.basic_get(self.NOTIFIED, auto_ack=True)
                    if method is None:
                        return
                    message = json.loads(body)
                    self.seen[(message["burst_id"], message["product_version"], method.routing_key)] += 1
            except pika.exceptions.AMQPError:
                time.sleep(1)
                self._connect()

    def purge(self, *queues: str) -> None:
        """Empty these queues where they exist: a fault class must not consume what the previous one left
        pending (a retry due after that class ended, naming an SDB stand-in that is gone)."""
        for queue in queues:
            try:
                self.channel.queue_purge(queue)
            except pika.exceptions.ChannelClosedByBroker:  # not declared yet: nothing left in it
                self.channel = self.connection.channel()

    def dead_letters(self) -> int:
        try:
            queue = self.config.dead_letter_queue
            return int(self.channel.queue_declare(queue, passive=True).method.message_count)
        except pika.exceptions.AMQPError:
            self._connect()
            return 0

    def dead_reasons(self) -> list[str]:
        """Take every message of the dead-letter queue: the reason of each."""
        return [reason for _, reason in self.take_dead_letters()]

    def take_dead_letters(self) -> list[tuple[str | None, str]]:
        """Take every message of the dead-letter queue: its message_id and its reason ('' if none)."""
        taken = []
        while (letter := self.take_dead_letter()) is not None:
            taken.append(letter)
        return taken

    def take_dead_letter(self) -> tuple[str | None, str] | None:
        """Take the oldest message of the dead-letter queue (None if empty): its message_id and reason."""
        method, properties, _ = self.channel.basic_get(self.config.dead_letter_queue, auto_ack=True)
        if method is None:
            return None
        return properties.message_id, str((properties.headers or {}).get(self.config.reason_header, ""))

    def publish_input(self, routing_key: str, body: bytes, message_id: str | None = None) -> None:
        """Publish a message to the service's inputs exchange, as an upstream producer would."""
        properties = pika.BasicProperties(message_id=message_id)
        self.channel.basic_publish(self.config.inputs_exchange, routing_key, body, properties)

    def versions(self, burst_ids: set[str], audience: str | None = None) -> Counter[tuple[str, int]]:
        """(burst, version) -> notifications ``audience`` received (by default the Burst Advocate)."""
        key_wanted = audience or self.config.ba_routing_key
        return Counter(
            {
                (burst, version): count
                for (burst, version, key), count in self.seen.items()
                if key == key_wanted and burst in burst_ids
            }
        )
