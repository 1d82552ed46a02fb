"""VTAC's exchanges, queues and bindings, declared at each (re)connection (names in docs/ICD.md).

The input queue dead-letters to ``dead_letter_exchange``; a delay queue (per-message TTL) sends retried inputs
back to it; the notification receivers' durable queues are declared too, so a notification is never
unroutable in a standard deployment.
"""

from __future__ import annotations

from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

from vtac.settings import BrokerSettings


def declare_topology(channel: BlockingChannel, config: BrokerSettings) -> None:
    """Declare every exchange, queue and binding; idempotent, so it runs at each (re)connection."""
    for exchange in (config.inputs_exchange, config.notifications_exchange, config.dead_letter_exchange):
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    input_args: dict[str, Any] = {
        "x-queue-type": config.queue_type,
        "x-dead-letter-exchange": config.dead_letter_exchange,
        "x-dead-letter-routing-key": config.inputs_queue,
    }
    if config.queue_type == "quorum":
        input_args["x-delivery-limit"] = config.delivery_limit
    channel.queue_declare(config.inputs_queue, durable=True, arguments=input_args)
    for key in config.input_routing_keys:
        channel.queue_bind(config.inputs_queue, config.inputs_exchange, routing_key=key)
    channel.queue_declare(config.dead_letter_queue, durable=True)
    channel.queue_bind(config.dead_letter_queue, config.dead_letter_exchange, routing_key=config.inputs_queue)
    channel.queue_declare(config.retry_queue, durable=True, arguments=retry_queue_arguments(config))
    declare_notification_queues(channel, config)


def retry_queue_arguments(config: BrokerSettings) -> dict[str, Any]:
    """The delay queue: expired copies go back to the input queue. As a quorum queue with at-least-once
    dead-lettering (RabbitMQ >= 3.10), a copy leaves it only once the input queue has taken it: a classic
    queue dead-letters at most once, and drops what expires while the input queue is not up yet (a broker
    restart with retries pending lost them all)."""
    arguments: dict[str, Any] = {
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": config.inputs_queue,
    }
    if config.queue_type == "quorum":
        arguments |= {
            "x-queue-type": "quorum",
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",  # required by at-least-once dead-lettering
        }
    return arguments


def notification_queues(config: BrokerSettings) -> dict[str, tuple[str, str]]:
    """Receiver -> (queue, routing key) of the notification queues VTAC declares ("" queue: not declared)."""
    queues = {
        "ba": (config.ba_queue, config.ba_routing_key),
        "vtpp": (config.vtpp_queue, config.vtpp_routing_key),
    }
    return {receiver: pair for receiver, pair in queues.items() if pair[0]}


def declare_notification_queues(channel: BlockingChannel, config: BrokerSettings) -> None:
    """The Burst Advocate's and VT post-processing's durable queues, bound to the notifications exchange."""
    channel.exchange_declare(config.notifications_exchange, exchange_type="topic", durable=True)
    for name, routing_key in notification_queues(config).values():
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": config.queue_type})
        channel.queue_bind(name, config.notifications_exchange, routing_key=routing_key)
