"""The Burst Advocate's terminal view: QPO_VT notifications printed as they arrive (``vtac listen``).

Reads a notification queue (by default the BA's, declared exactly as ``vtac serve`` declares it, so the
listener may start first), prints a few lines per notification, and acks it once printed. The body is read
leniently (plain JSON, not the model): a newer layout with extra fields, such as a candidate's
``probability`` and ``reasons``, is shown when present, the score and flags otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from vtac.errors import ConfigurationError, TransientError
from vtac.service.broker import (
    ATTEMPT_HEADER,
    FIRST_FAILURE_HEADER,
    REASON_HEADER,
    REJECTED_AT_HEADER,
    connection_parameters,
)
from vtac.service.topology import declare_notification_queues, notification_queues
from vtac.settings import BrokerSettings


@dataclass(frozen=True)
class ListenRequest:
    """Which queue, how many notifications, how long to wait for them."""

    queue: str
    count: int | None = None
    timeout_s: float | None = None
    raw: bool = False


def queue_of(config: BrokerSettings, receiver: str) -> str:
    """The configured queue of ``ba`` or ``vtpp``; a receiver without a queue is a configuration error."""
    queues = notification_queues(config)
    if receiver not in queues:
        raise ConfigurationError(
            f"no {receiver} notification queue is configured (VTAC_BROKER__{receiver.upper()}_QUEUE is empty)"
        )
    return queues[receiver][0]


def listen(config: BrokerSettings, request: ListenRequest, emit: Callable[[str], None] = print) -> int:
    """Print notifications until ``count`` were seen or none came for ``timeout_s``; the number printed."""
    seen = 0
    with _channel(config, request.queue) as channel:
        declare_notification_queues(channel, config)
        channel.basic_qos(prefetch_count=16)
        inactivity = None if request.timeout_s is None else max(request.timeout_s, 0.01)
        for method, _properties, body in channel.consume(request.queue, inactivity_timeout=inactivity):
            if method is None:  # nothing for timeout_s
                break
            emit(body.decode("utf-8", "replace") if request.raw else format_notification(body))
            channel.basic_ack(method.delivery_tag)
            seen += 1
            if request.count is not None and seen >= request.count:
                break
        channel.cancel()
    return seen


def format_notification(body: bytes) -> str:
    """A few lines a Burst Advocate reads at a glance: burst, version, best candidate, product."""
    try:
        message = json.loads(body)
    except ValueError:
        return f"unreadable notification ({len(body)} bytes): {body[:80]!r}"
    if not isinstance(message, dict):
        return f"unreadable notification: {body[:80]!r}"
    best = message.get("best_candidates") or []
    verified = "verified" if message.get("verified") else "NOT verified (no catalogue answered)"
    lines = [
        f"{message.get('burst_id', '?')} v{message.get('product_version', '?')}  {message.get('created', '')}"
        f"  {message.get('n_candidates', '?')} candidate(s), {verified}",
        _best_line(best[0]) if best else "  no candidate above the threshold",
    ]
    if len(best) > 1:
        lines.append(f"  (+{len(best) - 1} more best candidate(s))")
    product = (message.get("sdb") or {}).get("qpo_vt")
    if product:
        lines.append(f"  QPO_VT: {product}")
    page = (message.get("extras") or {}).get("page")
    if page:
        lines.append(f"  page: {page}")
    return "\n".join(lines)


def show_dead_letters(
    config: BrokerSettings,
    *,
    requeue: bool = False,
    limit: int | None = None,
    emit: Callable[[str], None] = print,
) -> int:
    """Print the dead-lettered inputs with their reasons, oldest first; the number shown.

    Without ``requeue`` nothing is consumed: every message read is returned to the dead-letter queue in its
    order. With ``requeue`` each one is sent back to the input queue (its reason headers dropped, so the
    service sees a fresh input) and only then removed from the dead-letter queue.
    """
    shown = 0
    dropped = {config.reason_header, REJECTED_AT_HEADER, ATTEMPT_HEADER, FIRST_FAILURE_HEADER, "x-death"}
    with _channel(config, config.dead_letter_queue) as channel:
        channel.confirm_delivery()
        tags = []
        while limit is None or shown < limit:
            method, properties, body = channel.basic_get(config.dead_letter_queue, auto_ack=False)
            if method is None:
                break
            emit(format_dead_letter(body, properties.headers or {}, config.reason_header))
            if requeue:
                headers = properties.headers or {}
                properties.headers = {key: value for key, value in headers.items() if key not in dropped}
                channel.basic_publish("", config.inputs_queue, body, properties, mandatory=True)
                channel.basic_ack(method.delivery_tag)
                emit("  requeued to " + config.inputs_queue)
            else:
                tags.append(method.delivery_tag)
            shown += 1
        if tags:  # back to the queue, in their order
            channel.basic_nack(tags[-1], multiple=True, requeue=True)
    return shown


def format_dead_letter(body: bytes, headers: dict[str, Any], reason_header: str = REASON_HEADER) -> str:
    """One dead-lettered input: what it was (burst, acronym, file) and why it was refused, and when."""
    reason = _header_text(headers.get(reason_header)) or _death_reason(headers) or "no reason recorded"
    try:
        message = json.loads(body)
    except ValueError:
        message = None
    if isinstance(message, dict):
        what = " ".join(
            str(message[key]) for key in ("burst_id", "acronym", "kind", "filename") if message.get(key)
        )
    else:
        what = f"unreadable body ({len(body)} bytes)"
    when = _header_text(headers.get(REJECTED_AT_HEADER))
    return f"DEAD {what or '?'}" + (f"  rejected {when}" if when else "") + f"\n  reason: {reason}"


def _header_text(value: Any) -> str:
    return (
        value.decode("utf-8", "replace")
        if isinstance(value, bytes)
        else ("" if value is None else str(value))
    )


def _death_reason(headers: dict[str, Any]) -> str:
    """The broker's own dead-lettering (x-death) when VTAC's reason header is missing."""
    deaths = headers.get("x-death")
    if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict):
        return f"dead-lettered by the broker ({_header_text(deaths[0].get('reason'))}), no VTAC reason"
    return ""


@contextmanager
def _channel(config: BrokerSettings, queue: str) -> Iterator[BlockingChannel]:
    """A channel on its own connection, closed after; a queue the broker refuses is a configuration error."""
    try:
        connection = pika.BlockingConnection(connection_parameters(config))
    except pika.exceptions.AMQPError as error:
        raise TransientError(f"cannot connect to the broker: {error!r}") from None
    try:
        yield connection.channel()
    except pika.exceptions.ChannelClosedByBroker as error:
        raise ConfigurationError(f"broker refused queue {queue!r}: {error}") from None
    finally:
        if connection.is_open:
            connection.close()


def _best_line(candidate: dict[str, Any]) -> str:
    position = _position(candidate.get("ra"), candidate.get("dec"))
    probability = candidate.get("probability")
    if isinstance(probability, int | float):
        likelihood = f"probability {probability:.2f}"
    elif isinstance(candidate.get("score"), int | float):
        likelihood = f"score {candidate['score']:.2f}"
    else:
        likelihood = "no score"
    reasons = candidate.get("reasons")
    if isinstance(reasons, list) and reasons:
        why = "; ".join(str(reason) for reason in reasons)
    else:
        why = _reasons_from_flags(candidate.get("flags") or {})
    return (
        f"  best #{candidate.get('rank', 1)}: VT {candidate.get('vt_id', '?')} {position}  {likelihood}"
        + (f"  ({why})" if why else "")
    )


def _position(ra: Any, dec: Any) -> str:
    if isinstance(ra, int | float) and isinstance(dec, int | float):
        return f"RA {ra:.5f} Dec {dec:+.5f}"
    return "position unknown"


def _reasons_from_flags(flags: dict[str, Any]) -> str:
    """Why it ranks there, from the flags, for notifications that carry no ``reasons``."""
    reasons = []
    if flags.get("new_src"):
        reasons.append("uncatalogued in " + ",".join(flags["new_src"]))
    if flags.get("dmag_cat"):
        reasons.append("magnitude differs from the catalogue in " + ",".join(flags["dmag_cat"]))
    if flags.get("mag_var"):
        reasons.append("varies " + ",".join(flags["mag_var"]))
    if flags.get("in_mxt"):
        reasons.append("inside the MXT circle")
    return "; ".join(reasons)
