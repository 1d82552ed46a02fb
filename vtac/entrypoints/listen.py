"""``vtac listen``: print QPO_VT notifications as they arrive (the Burst Advocate's terminal view)."""

from __future__ import annotations

import argparse
from typing import Any

from vtac.entrypoints.exits import ExitCode
from vtac.errors import ConfigurationError, TransientError

# Service modules (pika, pydantic) load only when this sub-command runs: `vtac` stays fast.
# pylint: disable=import-outside-toplevel


def add_parser(subparsers: Any) -> None:
    """Register ``vtac listen``."""
    parser = subparsers.add_parser(
        "listen",
        help="print QPO_VT notifications as they arrive",
        description="Read the Burst Advocate's notification queue (or VT post-processing's, or any queue) "
        "and print burst, version, best candidate and product location of each notification; each one "
        "printed is acknowledged (taken off the queue). Broker and names: the VTAC_* settings of vtac serve.",
    )
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--to",
        choices=("ba", "vtpp"),
        default="ba",
        help="whose queue to read (default: ba, VTAC_BROKER__BA_QUEUE)",
    )
    target.add_argument("--queue", help="read this queue instead (not declared)")
    target.add_argument(
        "--dead",
        action="store_true",
        help="show the dead-lettered inputs (VTAC_BROKER__DEAD_LETTER_QUEUE) with the reason each was "
        "refused, without consuming them",
    )
    parser.add_argument(
        "--requeue",
        action="store_true",
        help="with --dead: send each one shown back to the input queue (after fixing its cause)",
    )
    parser.add_argument("--count", type=_positive_int, help="stop after N notifications")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="stop when none came for S seconds (exit 3: --count unmet)",
    )
    parser.add_argument("--json", action="store_true", help="print the message bodies as received")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Listen until --count, --timeout or Ctrl-C."""
    from vtac.service.listen import ListenRequest, listen, queue_of, show_dead_letters
    from vtac.service.logs import quiet_pika
    from vtac.settings import load_settings

    quiet_pika()
    config = load_settings().broker.model_copy(update={"connection_name": "vtac-listen"})
    if args.requeue and not args.dead:
        raise ConfigurationError("--requeue goes with --dead")
    if args.dead:
        shown = show_dead_letters(config, requeue=args.requeue, limit=args.count, emit=_print)
        _print(f"{shown} dead-lettered input(s)" + (" requeued" if args.requeue else ", left in the queue"))
        return ExitCode.OK
    request = ListenRequest(args.queue or queue_of(config, args.to), args.count, args.timeout, args.json)
    try:
        seen = listen(config, request, emit=_print)
    except KeyboardInterrupt:
        return ExitCode.OK
    if request.count is not None and seen < request.count:
        raise TransientError(f"{seen} of {request.count} notification(s) within {request.timeout_s:g} s")
    return ExitCode.OK


def _print(text: str) -> None:
    print(text, flush=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: expected a count >= 1")
    return value
