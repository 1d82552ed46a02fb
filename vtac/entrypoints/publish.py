"""``vtac publish``: publish an input product file or an MXT position as the upstream pipelines would.

For rehearsals, replays and tests: the message, routing key and properties are those of the ICD, sent with
publisher confirms to the inputs exchange of the configured broker (``VTAC_BROKER__URL``...).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from vtac.entrypoints.exits import ExitCode
from vtac.errors import InputError

# Service modules (pika, pydantic, drivers) load only when this sub-command runs: `vtac` stays fast.
# pylint: disable=import-outside-toplevel

ACRONYMS = ("QSRCLIST_VT", "QPO_MXT", "ALERT")


def add_parser(subparsers: Any) -> None:
    """Register ``vtac publish``."""
    parser = subparsers.add_parser(
        "publish",
        help="publish an input product or an MXT position to the broker",
        description="Publish one input exactly as upstream would: a product FILE (inline, or by reference "
        "with --sdb-url) or an MXT position (--mxt-position).",
    )
    parser.add_argument(
        "file",
        nargs="?",
        type=Path,
        help="product file (QSRCLIST_VT or QPO_MXT FITS), or a GCN notice (VOEvent XML or JSON) with ALERT",
    )
    parser.add_argument(
        "--acronym",
        choices=ACRONYMS,
        help="product type of FILE (ALERT: a GCN notice, routing position.ALERT)",
    )
    parser.add_argument("--burst-id", required=True, help="burst identifier, e.g. sb25020504")
    parser.add_argument("--mxt-position", metavar="RA,DEC,R90", help="MXT position (deg, deg, arcsec)")
    parser.add_argument(
        "--input-version", type=int, default=1, help="upstream product/position version (default: 1)"
    )
    parser.add_argument("--time", type=_aware_time, help="product/position time, ISO 8601 (default: now)")
    parser.add_argument("--sdb-url", help="send FILE by reference: its URL in the SDB (not the content)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Build the message, publish it confirmed, print its routing key and message id."""
    from vtac.service.logs import quiet_pika
    from vtac.service.publish import check_message, message_id, publish_inputs, routing_key
    from vtac.settings import load_settings

    quiet_pika()
    message = build_message(args)
    check_message(message)
    broker = load_settings().broker.model_copy(update={"connection_name": "vtac-publish"})
    publish_inputs(broker, [message])
    print(f"published {routing_key(message)} {message.burst_id} message_id={message_id(message)}")
    return ExitCode.OK


def build_message(args: argparse.Namespace) -> Any:
    """The input message the options describe; InputError on a contradiction."""
    from vtac.service.publish import alert_message, mxt_position_message, product_message

    if (args.file is None) == (args.mxt_position is None):
        raise InputError("give either a product FILE or --mxt-position RA,DEC,R90")
    if args.mxt_position is not None:
        ra, dec, r90 = _position(args.mxt_position)
        return _validated(
            lambda: mxt_position_message(
                ra,
                dec,
                r90,
                burst_id=args.burst_id,
                position_version=args.input_version,
                position_time=args.time,
            )
        )
    if args.acronym is None:
        raise InputError("--acronym is required with a product FILE", file=str(args.file))
    if args.acronym == "ALERT":
        return _validated(lambda: alert_message(args.file, burst_id=args.burst_id))
    return _validated(
        lambda: product_message(
            args.file,
            acronym=args.acronym,
            burst_id=args.burst_id,
            product_version=args.input_version,
            product_time=args.time,
            sdb_url=args.sdb_url,
        )
    )


def _validated(build: Any) -> Any:
    from pydantic import ValidationError

    try:
        return build()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        raise InputError(f"invalid message: {first['msg']}", column=field) from None


def _position(text: str) -> tuple[float, float, float]:
    parts = text.split(",")
    try:
        ra, dec, r90 = (float(part) for part in parts)
    except ValueError:
        raise InputError(f"--mxt-position {text!r}: expected RA,DEC,R90 in degrees and arcsec") from None
    return ra, dec, r90


def _aware_time(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r}: give a time zone, e.g. {text}Z")
    return value
