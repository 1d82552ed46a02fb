"""What processing one input message decides: the contract between the processor and the AMQP layer.

The processor (:mod:`vtac.service.processor`) never touches the broker; the consumer
(:mod:`vtac.service.consumer`) never looks inside a message. The consumer publishes ``notifications`` with
publisher confirms and acks the input only when every one was confirmed; ``REJECT`` dead-letters the input
with ``reason`` in its headers; ``RETRY`` puts it back for a later attempt (bounded by the broker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Action(StrEnum):
    """Broker action for one input message."""

    ACK = "ack"
    REJECT = "reject"
    RETRY = "retry"


@dataclass(frozen=True)
class Notification:
    """One message to publish: routing key (the exchange is configured), JSON body, deduplication id."""

    routing_key: str
    body: bytes
    message_id: str
    #: The version it announces (several versions may go out with one input after an outage).
    product_version: int | None = None


@dataclass(frozen=True)
class ProcessOutcome:
    """The decision on one input, with the notifications to publish before acking it."""

    action: Action
    reason: str = ""
    burst_id: str | None = None
    product_version: int | None = None
    notifications: list[Notification] = field(default_factory=list)
    #: Versions not built on their own: stored while an earlier build was pending or unannounced, their
    #: inputs are in the newest one notified (the extras ledger records them superseded).
    folded: tuple[int, ...] = ()
