"""Publish inputs exactly as the upstream pipelines would: for rehearsals, replays and tests.

A product file goes inline (base64 ``content``) or by reference (``sdb_url``); an MXT position goes alone.
Messages are persistent, mandatory and confirmed, with a ``message_id`` derived from burst, acronym and
content, so a replayed file carries the same id (and VTAC treats it as the no-op it is). What is sent is
checked first by ``vtac publish`` (:func:`check_message`): a product must be FITS whose ``CARD`` and
``BURST_ID`` (when present) agree with the options, a notice must be readable and of the same burst. The
builders themselves send anything (the fault tests publish hostile inputs with them). VTAC's topology is
declared first (the same idempotent declaration as ``vtac serve``), so an input published before the
service starts waits in its queue, as it would in a standard deployment.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pika
import pika.exceptions

from vtac.adapters.alerts import read_alert
from vtac.adapters.rawfits import fits_hdus
from vtac.errors import ConfigurationError, InputError, TransientError
from vtac.service.broker import connection_parameters
from vtac.service.messages import MxtPositionV1, PositionAlertV1, ProductNotificationV1
from vtac.service.topology import declare_topology
from vtac.settings import BrokerSettings

ROUTING_KEYS = {
    "QSRCLIST_VT": "product.QSRCLIST_VT",
    "QPO_MXT": "product.QPO_MXT",
    "MXT_POSITION": "position.MXT",
    "ALERT": "position.ALERT",
}
InputMessage = ProductNotificationV1 | MxtPositionV1 | PositionAlertV1


def product_message(
    path: Path,
    *,
    acronym: str,
    burst_id: str,
    product_version: int = 1,
    product_time: datetime | None = None,
    sdb_url: str | None = None,
) -> ProductNotificationV1:
    """A product notification for a file: inline content, or only its SDB URL when one is given."""
    fields: dict[str, object] = {
        "acronym": acronym,
        "burst_id": burst_id,
        "product_time": product_time or datetime.now(UTC),
        "product_version": product_version,
        "filename": path.name,
    }
    if sdb_url is not None:
        fields["sdb_url"] = sdb_url
    else:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise InputError(f"cannot read the product: {error.strerror}", file=str(path)) from None
        fields["content"] = content
    return ProductNotificationV1.model_validate(fields)


def mxt_position_message(
    ra: float,
    dec: float,
    r90_arcsec: float,
    *,
    burst_id: str,
    position_version: int = 1,
    position_time: datetime | None = None,
) -> MxtPositionV1:
    """An MXT position message (or an update: a higher ``position_version``)."""
    return MxtPositionV1(
        burst_id=burst_id,
        ra=ra,
        dec=dec,
        r90_arcsec=r90_arcsec,
        position_time=position_time or datetime.now(UTC),
        position_version=position_version,
    )


def alert_message(path: Path, *, burst_id: str) -> PositionAlertV1:
    """A GCN notice (VOEvent or JSON file) as an alert message for the burst it is followed up for."""
    try:
        content = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the notice: {error.strerror}", file=str(path)) from None
    return PositionAlertV1(burst_id=burst_id, content=content, filename=path.name)


def routing_key(message: InputMessage) -> str:
    """The topic routing key upstream uses for this kind of input."""
    return ROUTING_KEYS[message.acronym]


def message_id(message: InputMessage) -> str:
    """Deterministic id over burst, acronym and content: the same input always has the same id, and one file
    published for two bursts (or as two products) has two."""
    scope = f"{message.burst_id}|{message.acronym}|".encode()
    return hashlib.sha256(scope + message.content_key()).hexdigest()[:32]


def check_message(message: InputMessage) -> None:
    """What ``vtac publish`` refuses to send (InputError naming the file): see the module docstring."""
    if isinstance(message, PositionAlertV1):
        check_alert(message.content, message.filename or "notice", burst_id=message.burst_id)
    elif isinstance(message, ProductNotificationV1) and message.content is not None:
        name = message.filename or message.acronym
        check_product(message.content, name, acronym=message.acronym, burst_id=message.burst_id)


def check_product(content: bytes, name: str, *, acronym: str, burst_id: str) -> None:
    """What ``vtac publish`` refuses to send: a file that is not FITS, a FITS whose ``CARD`` names another
    product, or whose ``BURST_ID`` names another burst (VTAC would dead-letter it; better said now)."""
    primary = fits_hdus(content, name)[0].header
    card = str(primary.get("CARD") or "").strip()
    if card and card.upper() != acronym:
        raise InputError(
            f"CARD = '{card}', not {acronym}: wrong --acronym or wrong file", file=name, hdu="PRIMARY"
        )
    found = str(primary.get("BURST_ID") or "").strip()
    if found and found != burst_id:
        raise InputError(f"BURST_ID = '{found}' differs from --burst-id {burst_id}", file=name, hdu="PRIMARY")


def check_alert(content: bytes, name: str, *, burst_id: str) -> None:
    """A notice VTAC can read (any radius, tests allowed: the service decides those), of this burst."""
    alert = read_alert(content, name, max_radius_deg=180.0, accept_tests=True)
    if alert.burst_id and alert.burst_id != burst_id:
        raise InputError(f"Burst_Id {alert.burst_id} differs from --burst-id {burst_id}", file=name)


def publish_inputs(config: BrokerSettings, messages: list[InputMessage]) -> None:
    """Publish on the input exchange, each one confirmed; an unroutable message is an error, not a loss."""
    try:
        connection = pika.BlockingConnection(connection_parameters(config))
    except pika.exceptions.AMQPError as error:
        raise TransientError(f"cannot connect to the broker: {error!r}") from None
    try:
        channel = connection.channel()
        declare_topology(channel, config)
        channel.confirm_delivery()
        for message in messages:
            _publish_one(channel, config, message)
    except pika.exceptions.ChannelClosedByBroker as error:  # e.g. the exchange exists with another type
        raise ConfigurationError(f"broker refused {config.inputs_exchange!r}: {error}") from None
    finally:
        if connection.is_open:
            connection.close()


def _publish_one(
    channel: pika.adapters.blocking_connection.BlockingChannel, config: BrokerSettings, message: InputMessage
) -> None:
    key = routing_key(message)
    properties = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=pika.DeliveryMode.Persistent,
        message_id=message_id(message),
        timestamp=int(datetime.now(UTC).timestamp()),
    )
    body = message.model_dump_json(exclude_none=True).encode()
    try:
        channel.basic_publish(config.inputs_exchange, key, body, properties, mandatory=True)
    except pika.exceptions.UnroutableError:
        raise TransientError(
            f"no queue bound to {config.inputs_exchange!r} for {key!r} (see VTAC_BROKER__INPUT_ROUTING_KEYS)"
        ) from None
    except pika.exceptions.NackError:
        raise TransientError(f"the broker refused the message for {key!r}") from None
