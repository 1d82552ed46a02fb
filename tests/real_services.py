"""The real services the tests use, and helpers on them; the fixtures are in conftest.py.

Unreachable services fail under CI (``CI=true``) and skip a test elsewhere (see conftest.py).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import pika
import pika.exceptions

from vtac.service.topology import declare_topology
from vtac.settings import BrokerSettings

POSTGRES_URL = os.environ.get("VTAC_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BROKER_URL = os.environ.get("VTAC_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
#: Routing keys of the two notification audiences.
AUDIENCES = ("qpo_vt.ba", "qpo_vt.vtpp")


def with_changes(config: BrokerSettings, **changes: Any) -> BrokerSettings:
    """A copy of broker settings with some values changed, validated like the service's own."""
    return BrokerSettings.model_validate({**config.model_dump(), **changes})


def isolated_amqp_config(label: str, **overrides: Any) -> BrokerSettings:
    """Exchanges and queues of one test only (so tests never see each other's messages), fast timings."""
    uid = uuid.uuid4().hex[:10]
    settings: dict[str, Any] = {
        "url": BROKER_URL,
        "inputs_exchange": f"test.{uid}.products",
        "inputs_queue": f"test.{uid}.inputs",
        "notifications_exchange": f"test.{uid}.notifications",
        "dead_letter_exchange": f"test.{uid}.dlx",
        "dead_letter_queue": f"test.{uid}.inputs.dead",
        "ba_queue": "",  # the tests read the notifications from queues of their own
        "vtpp_queue": "",
        "heartbeat_s": 5,
        "retry_delay_s": 0.05,
        "retry_delay_cap_s": 0.2,
        "reconnect_initial_s": 0.05,
        "reconnect_cap_s": 0.5,
        "shutdown_grace_s": 2.0,
        "connection_name": f"vtac-{label}-{uid}",
    }
    return BrokerSettings.model_validate(settings | overrides)


def delete_topology(configs: Iterable[BrokerSettings], extra_queues: Iterable[str] = ()) -> None:
    """Delete the queues and exchanges of test configurations (the broker is shared with other suites)."""
    connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
    channel = connection.channel()
    for config in configs:
        queues = (
            config.inputs_queue,
            config.retry_queue,
            config.dead_letter_queue,
            config.ba_queue,
            config.vtpp_queue,
        )
        for queue in (name for name in queues if name):
            channel.queue_delete(queue)
        for exchange in (config.inputs_exchange, config.notifications_exchange, config.dead_letter_exchange):
            channel.exchange_delete(exchange)
    for queue in extra_queues:
        channel.queue_delete(queue)
    connection.close()


class Broker:
    """The test's own connection: declares the topology, publishes inputs, reads the notifications.

    Every notification lands in ``notifications_queue`` (all audiences) and in the audience's own queue of
    ``audience_queues`` (routing key -> queue).
    """

    def __init__(self, config: BrokerSettings) -> None:
        self.config = config
        self.connection = pika.BlockingConnection(pika.URLParameters(BROKER_URL))
        self.channel = self.connection.channel()
        declare_topology(self.channel, config)
        self.notifications_queue = f"{config.inputs_queue}.notified"
        self.audience_queues = {key: f"{config.inputs_queue}.{key.rsplit('.', 1)[-1]}" for key in AUDIENCES}
        for name, key in self._bindings():
            self.channel.queue_declare(name, durable=True)
            self.channel.queue_bind(name, config.notifications_exchange, routing_key=key)
        self.message_ids: dict[str, list[str]] = {key: [] for key in AUDIENCES}

    def _bindings(self) -> list[tuple[str, str]]:
        """(queue, routing key) of this client's notification queues."""
        return [(self.notifications_queue, "qpo_vt.#"), *((q, k) for k, q in self.audience_queues.items())]

    def unbind_notifications(self) -> None:
        """Leave the notifications without a queue (unroutable), as a deployment missing its receivers."""
        for name, key in self._bindings():
            self.channel.queue_unbind(name, self.config.notifications_exchange, key)

    def publish_raw(self, body: bytes, routing_key: str = "product.QPO_MXT") -> None:
        self.channel.basic_publish(self.config.inputs_exchange, routing_key, body)

    def take(self, queue: str, count: int, timeout_s: float = 10.0) -> list[tuple[Any, bytes]]:
        """Get ``count`` messages (acked) from ``queue``; fail if they do not come in time."""
        taken: list[tuple[Any, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while len(taken) < count and time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(queue, auto_ack=True)
            if method is None:
                self.connection.sleep(0.02)
            else:
                taken.append((properties, body))
        assert len(taken) == count, f"{queue}: {len(taken)} of {count} messages after {timeout_s} s"
        return taken

    def notifications(self, key: str) -> list[dict]:
        """Every notification waiting for one audience (JSON bodies); their ids go to ``message_ids``."""
        taken: list[dict] = []
        while True:
            method, properties, body = self.channel.basic_get(self.audience_queues[key], auto_ack=True)
            if method is None:
                return taken
            self.message_ids[key].append(properties.message_id)
            taken.append(json.loads(body))

    def depth(self, queue: str) -> int:
        return int(self.channel.queue_declare(queue, passive=True).method.message_count)

    def close(self) -> None:
        """Delete this connection's own queues (the fixture deletes the configuration's) and close it."""
        for queue in (self.notifications_queue, *self.audience_queues.values()):
            self.channel.queue_delete(queue)
        self.connection.close()


def wait_for(condition: Callable[[], bool], timeout_s: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail the test if it does not within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def broker_problem() -> str | None:
    """Why the test broker cannot be reached (None when it can)."""
    try:
        pika.BlockingConnection(pika.URLParameters(BROKER_URL)).close()
    except pika.exceptions.AMQPError as error:
        return f"no RabbitMQ at {BROKER_URL}: {error!r}"
    return None
